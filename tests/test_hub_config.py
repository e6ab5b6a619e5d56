"""The course hub's generated configuration (`python -m autograder hub-config`), without a hub.

tests/test_hub.py starts a real hub from the same generator."""

import json
import stat

import pytest
from traitlets.config.loader import PyFileConfigLoader

from autograder.hub import FRAME_ANCESTORS, write_hub_config


def load(path):
    return PyFileConfigLoader(path.name, str(path.parent)).load_config()


@pytest.fixture
def hub(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 77\n")
    path = write_hub_config(tmp_path / "hub", instructors=["ines"], students=["sam", "sue"],
                            course_root=course, reference=tmp_path / "ref",
                            image=tmp_path / "image", port=18000, hub_port=18081,
                            proxy_api_port=18001, proxy="/bin/true")
    return path


def test_hub_config_groups_ports_and_environment(hub):
    c = load(hub)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:18000"
    assert c.JupyterHub.hub_port == 18081 and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:18001"
    assert c.JupyterHub.load_groups == {"instructors": {"users": ["ines"]},
                                        "students": {"users": ["sam", "sue"]}}
    assert c.Authenticator.allowed_users == {"ines", "sam", "sue"}
    assert c.Spawner.environment["PATH"].startswith(str(hub.parent.parent / "image" / "bin") + ":")
    assert "PYTHONPATH" not in c.Spawner.env_keep and "VIRTUAL_ENV" not in c.Spawner.env_keep
    assert c.Spawner.cmd == [str(hub.parent.parent / "image" / "bin" / "jupyterhub-singleuser")]


class FakeSpawner:
    def __init__(self, group, environment):
        self.user = type("User", (), {"groups": [type("Group", (), {"name": group})]})
        self.environment = environment


def test_only_instructors_get_the_reference_and_the_formgrader(hub):
    c = load(hub)
    shared = dict(c.Spawner.environment)
    student, instructor = FakeSpawner("students", shared), FakeSpawner("instructors", shared)
    c.Spawner.pre_spawn_hook(student)
    c.Spawner.pre_spawn_hook(instructor)
    assert "CNNLAB_REFERENCE" not in student.environment and "CNNLAB_REFERENCE" not in shared
    assert instructor.environment["CNNLAB_REFERENCE"].endswith("/ref")
    folder = hub.parent / "jupyter"
    assert student.environment["JUPYTER_CONFIG_PATH"] == str(folder / "students")
    assert instructor.environment["JUPYTER_CONFIG_PATH"] == str(folder / "instructors")
    students = json.loads((folder / "students" / "jupyter_server_config.json").read_text())
    assert students["ServerApp"]["jpserver_extensions"] == {
        "nbgrader.server_extensions.formgrader": False}
    page = json.loads((folder / "students" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    instructors = json.loads((folder / "instructors" / "jupyter_server_config.json").read_text())
    headers = instructors["ServerApp"]["tornado_settings"]["headers"]
    assert headers["Content-Security-Policy"] == FRAME_ANCESTORS


def test_nbgrader_configs_and_exchange_permissions(hub):
    exchange = hub.parent / "exchange"
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777
    inst = load(hub.parent / "jupyter" / "instructors" / "nbgrader_config.py")
    assert inst.CourseDirectory.course_id == "cnnlab"
    assert inst.Exchange.root == str(exchange)
    assert inst.Execute.timeout == 77  # the course's own nbgrader_config.py is loaded
    stud = load(hub.parent / "jupyter" / "students" / "nbgrader_config.py")
    assert stud.Exchange.root == str(exchange) and "Execute" not in stud


def test_bad_settings_are_refused(tmp_path):
    common = dict(course_root=tmp_path, reference=tmp_path, image=tmp_path, proxy="/bin/true")
    with pytest.raises(ValueError, match="both groups"):
        write_hub_config(tmp_path / "h", instructors=["a"], students=["a"], **common)
    with pytest.raises(ValueError, match="8 characters"):
        write_hub_config(tmp_path / "h", instructors=["a"], students=[], **common,
                         authenticator="shared-password", shared_password="short")
