"""Command line: grade a chapter, build the student editions, lay out an nbgrader course."""

import argparse
import sys
from pathlib import Path

try:
    from tqdm import tqdm

    from .chapters import CHAPTERS
    from .chapters import chapter as find_chapter
    from .engine import grade
    from .nbgrader_settings import DEFAULT_EXCHANGE
    from .sandbox import GradingError
except ModuleNotFoundError as missing:  # e.g. `python3 -m autograder` outside the course's venv
    sys.exit(f"python -m autograder: this Python lacks the course's packages ({missing.name}): "
             "run .venv/bin/python -m autograder, or `source .venv/bin/activate` first")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("grade", help="print the score table of a chapter (or all)")
    p.add_argument("chapters", nargs="*",
                   help="e.g. 1, ch01 or ch01_edges (default: every chapter)")
    p.add_argument("--package", help="folder of the cnnlab to grade (default: the installed one)")
    p.add_argument("--public", action="store_true", help="only the public checks")
    p.add_argument("--no-jit", action="store_true",
                   help="run your kernels as plain Python (NUMBA_DISABLE_JIT=1): Python "
                        "tracebacks, and what your code prints is shown; slower")

    p = commands.add_parser("build", help="regenerate src/cnnlab and course/ from solutions/")
    p.add_argument("--check", action="store_true",
                   help="change nothing; fail if the committed editions drift or leak")

    p = commands.add_parser("nbgrader-course", help="write an nbgrader course directory")
    p.add_argument("folder", help="where to write it (source/<chapter>/ and nbgrader_config.py)")
    p.add_argument("--exchange", default=DEFAULT_EXCHANGE,
                   help=f"nbgrader's exchange folder, shared with the students "
                        f"(default: nbgrader's own, {DEFAULT_EXCHANGE})")
    p.add_argument("--earlier", choices=["reference", "own"], default="reference",
                   help="earlier chapters' exercises in a later assignment: the reference code "
                        "(default) or stubs that each student fills with their own (carry-over)")

    p = commands.add_parser("carry-over",
                            help="copy your earlier chapters' code into a later assignment")
    p.add_argument("earlier", help="your earlier assignment's folder, e.g. ch01_edges")
    p.add_argument("later", help="the later assignment's folder, e.g. ch02_arithmetic")

    p = commands.add_parser("hub-config", help="write a course hub's jupyterhub_config.py")
    p.add_argument("folder", help="the hub's folder (config, exchange/, jupyter/<group>/)")
    p.add_argument("--instructor", action="append", required=True, help="user name (repeat)")
    p.add_argument("--student", action="append", default=[], help="user name (repeat)")
    p.add_argument("--course-root", required=True, help="the instructor's nbgrader course folder")
    p.add_argument("--reference", required=True,
                   help="the reference package folder (solutions/cnnlab) on the grading side")
    p.add_argument("--image", required=True,
                   help="prefix of the single-user environment (a venv with the course wheel)")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--hub-port", type=int, default=8081)
    p.add_argument("--proxy-api-port", type=int, default=8001)
    p.add_argument("--authenticator", choices=["pam", "shared-password"], default="pam")
    p.add_argument("--shared-password", help="with --authenticator shared-password")

    p = commands.add_parser("report", help="after nbgrader autograde: the trusted grades of an "
                                           "assignment and the cells flagged as tampered with")
    p.add_argument("assignment", help="e.g. ch01_edges")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: here)")

    args = parser.parse_args(argv)
    if args.command == "hub-config":
        from .hub import write_hub_config

        path = write_hub_config(
            args.folder, instructors=args.instructor, students=args.student,
            course_root=args.course_root, reference=args.reference, image=args.image,
            ip=args.ip, port=args.port, hub_port=args.hub_port,
            proxy_api_port=args.proxy_api_port, authenticator=args.authenticator,
            shared_password=args.shared_password,
        )
        print(f"hub configuration written to {path}; start it there with\n"
              f"  cd {path.parent} && jupyterhub -f {path.name}")
        return 0
    if args.command == "grade":
        try:  # every name checked before the first progress bar starts
            names = [find_chapter(name).name for name in args.chapters] or [
                ch.name for ch in CHAPTERS]
        except ValueError as error:
            print(f"python -m autograder grade: {error}", file=sys.stderr)
            return 2
        total = top = 0.0
        for name in names:
            with tqdm(desc=name, unit="test", file=sys.stdout, leave=False) as bar:
                def progress(done, count, bar=bar):
                    if (done, count) != (bar.n, bar.total):
                        bar.total, bar.n = count, done
                        bar.refresh()

                try:
                    report = grade(name, package=args.package, public_only=args.public,
                                   progress=progress, no_jit=args.no_jit)
                except GradingError as error:
                    bar.close()
                    print(f"error: {error}", file=sys.stderr)
                    return 2
            print(report.table(), end="\n\n")
            total, top = total + report.points(), top + report.max_points()
        if len(names) > 1:
            print(f"course total: {total:g} / {top:g} points ({100 * total / max(top, 1):.0f} %)")
        return 0
    if args.command == "report":
        from .nbgrader_trusted import print_report

        name = find_chapter(args.assignment).name
        flagged = print_report(Path(args.course) / "trusted_grades" / name)
        return 1 if flagged else 0
    if args.command == "carry-over":
        from .carry import carry_over

        copied = carry_over(args.earlier, args.later)
        print(f"copied from {args.earlier} into {args.later}: {', '.join(copied)}")
        return 0
    from . import build as course_build  # needs jupytext/nbgrader: instructors only

    if args.command == "build":
        if args.check:
            problems = course_build.check()
            print("\n".join(problems) or "src/ and course/ match a fresh build; no leaks")
            return 1 if problems else 0
        course_build.build()
        print("rebuilt src/cnnlab and course/ from solutions/")
        return 0
    root = course_build.write_nbgrader_course(args.folder, earlier=args.earlier,
                                              exchange=args.exchange)
    print(f"nbgrader course written to {root} (exchange: {args.exchange}); run nbgrader there, "
          f"e.g.\n  cd {root} && nbgrader generate_assignment {CHAPTERS[0].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
