"""Static checks of the image build: multi-stage, locked, non-root, one image for everything.

There is no Docker engine here; these read the Dockerfile and .dockerignore the way the
builder does (instructions, stages, exec-form JSON) and hold them to the repository's own
facts: the Makefile's uv version, the workspace members, the services' ports.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from crm_stack.gateway import GatewaySettings
from tests.deploy.manifests import PROCESSES, REPO


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, line
            stages.append(Stage(_substitute(match[1], global_args), match[2]))
        elif not stages and keyword == "ARG":
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def _substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], value)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages()[1]


def test_the_build_has_a_builder_and_a_runtime_stage(stages: list[Stage]) -> None:
    assert [stage.name for stage in stages] == ["builder", "runtime"]
    builder, runtime = stages
    # the venv's interpreter links to the base image's python: both stages share one base
    assert builder.base == runtime.base
    image, _, tag = runtime.base.partition(":")
    assert image == "python" and tag.endswith("-slim")
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(part) for part in re.fullmatch(r">=(\d+\.\d+)", requires)[1].split("."))
    version = tuple(int(part) for part in re.match(r"(\d+\.\d+)", tag)[1].split("."))
    assert version >= minimum


def test_the_builder_installs_the_lock_with_the_pinned_uv(stages: list[Stage]) -> None:
    builder = stages[0]
    makefile = (REPO / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)[1]
    (uv_arg,) = [a for a in builder.all("ARG") if a.startswith("UV_VERSION=")]
    assert uv_arg == f"UV_VERSION={pinned}", "the Makefile and the Dockerfile pin one uv"
    assert any('pip install "uv==${UV_VERSION}"' in run for run in builder.all("RUN"))
    syncs = [run for run in builder.all("RUN") if "uv sync" in run]
    assert syncs
    for sync in syncs:
        flags = set(sync.split())
        assert {"--frozen", "--no-dev", "--all-packages"} <= flags, sync
    assert "--no-editable" in syncs[-1].split(), "the venv must not point at /src"
    env = " ".join(builder.all("ENV"))
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in env


def test_the_builder_copies_every_workspace_member(stages: list[Stage]) -> None:
    builder = stages[0]
    workspace = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    copies = [copy.split() for copy in builder.all("COPY")]
    sources = {source.rstrip("/") for copy in copies for source in copy[:-1]}
    assert {"uv.lock", "pyproject.toml"} <= sources
    for member in workspace["members"]:
        assert f"{member}/pyproject.toml" in sources, f"{member} manifest not copied first"
        assert any(member == source or member.startswith(source + "/") for source in sources), (
            f"{member} sources not copied"
        )


def test_the_runtime_stage_runs_the_venv_as_a_non_root_user(stages: list[Stage]) -> None:
    runtime = stages[1]
    copies = runtime.all("COPY")
    assert copies == ["--from=builder /app/.venv /app/.venv"], "only the built venv"
    users = runtime.all("USER")
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user == "10001" and group in {"", "10001"}
    assert any("--uid 10001" in run for run in runtime.all("RUN"))
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["/app/.venv/bin/python", "-m"]
    assert isinstance(json.loads(runtime.all("CMD")[-1]), list), "exec form"
    env = " ".join(runtime.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "nothing writes .pyc at run time"
    assert re.search(r"CRM_DATA_DIR=/tmp/", env), "the only writable place is /tmp"


def test_no_secret_is_baked_into_the_image(stages: list[Stage]) -> None:
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL|MONGODB_URL", re.IGNORECASE)
    for stage in stages:
        for keyword in ("ENV", "ARG", "LABEL"):
            for args in stage.all(keyword):
                assert not secret.search(args), f"{keyword} {args}"


def test_the_image_exposes_the_ports_the_components_listen_on(stages: list[Stage]) -> None:
    exposed = {int(port) for args in stages[1].all("EXPOSE") for port in args.split()}
    listening = {p.default_port for p in PROCESSES.values()}
    listening.add(int(GatewaySettings.model_fields["port"].default))
    assert exposed == listening


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule for patterns without '!': a match of the path or a parent."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        regex = fnmatch.translate(pattern.replace("**/", "\x00")).replace("\x00", "(?:.*/)?")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            return True
    return False


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "exceptions need a fuller matcher"
    for kept in (
        "uv.lock",
        "pyproject.toml",
        "contracts/pyproject.toml",
        "runtime/src/crm_runtime/settings.py",
        "services/contacts/src/crm_contacts/__main__.py",
        "services/pipeline/src/crm_pipeline/__main__.py",
        "services/tickets/src/crm_tickets/__main__.py",
        "services/loyalty/src/crm_loyalty/__main__.py",
        "services/sagas/src/crm_sagas/__main__.py",
        "services/projections/src/crm_projections/__main__.py",
        "stack/src/crm_stack/gateway.py",
    ):
        assert (REPO / kept).exists(), kept
        assert not _ignored(kept, patterns), f"{kept} is needed by the build"
    for dropped in (
        ".git/config",
        ".venv/bin/python",
        ".tools/bin/uv",
        ".crm-data/keys/token-signing.pem",
        "services/contacts/tests/conftest.py",
        "runtime/src/crm_runtime/__pycache__/auth.cpython-311.pyc",
        "tests/support.py",
    ):
        assert _ignored(dropped, patterns), f"{dropped} must stay out of the build context"
