"""Run real Apache Kafka (KRaft, one node) and Neo4j Community on loopback, from Maven Central jars.

``up`` fetches the pinned jars with Maven once (cached under the state folder), formats Kafka's
storage and sets Neo4j's initial password on first use, starts both JVMs in the background, records
their pids and waits until a Kafka metadata request and a Neo4j Bolt login succeed. ``down`` stops
exactly the recorded processes. Nothing is ever looked up or signalled by process name.

Layout under ``Settings.state_dir`` (made absolute)::

    jars/kafka-<v>/ jars/neo4j-<v>/   fetched jars (Maven keeps its own cache in ~/.m2)
    kafka/{server.properties,log4j.properties,data/,logs/}
    neo4j/{conf/,data/,logs/,run/,import/,plugins/}
    run/kafka.json run/neo4j.json     pid records
    neo4j-password                    generated password (0600), unless CHAINRISK_NEO4J_PASSWORD is set
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from chainrisk.graph.config import Settings
from chainrisk.graph.statefiles import ensure_private_dir

KAFKA_VERSION = "3.9.2"
NEO4J_VERSION = "5.26.30"
NEO4J_BROWSER_VERSION = "5.24.0"

HOST = "127.0.0.1"
MIN_JAVA = 17
LOG_TAIL_LINES = 30
STOP_TIMEOUT = 60.0
MAVEN_TIMEOUT = 1800.0
NEO4J_MIN_PASSWORD_LENGTH = 8  # Neo4j's default dbms.security.auth_minimum_password_length

KAFKA_JVM_OPTS = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]
NEO4J_JVM_OPTS = [
    "-Xms1g",
    "-Xmx2g",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    # the same opens the neo4j launcher script adds; without them the page cache runs in a slower mode
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """Default progress sink: one line on stderr."""
    print(f"[services] {message}", file=sys.stderr, flush=True)


class ServiceError(Exception):
    """A service could not be fetched, started or stopped; the message says why and what to do."""


# --- what runs where --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """A service this module can run: its name, pinned version, pom resource and main log file."""

    name: str
    version: str
    pom: str
    main_log: str


KAFKA = ServiceSpec("kafka", KAFKA_VERSION, "kafka-pom.xml", "server.log")
NEO4J = ServiceSpec("neo4j", NEO4J_VERSION, "neo4j-pom.xml", "neo4j.log")
SERVICES: tuple[ServiceSpec, ...] = (KAFKA, NEO4J)


def spec_named(name: str) -> ServiceSpec:
    """The service called ``name`` (``kafka`` or ``neo4j``)."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise ServiceError(f"unknown service {name!r}: choose one of {', '.join(s.name for s in SERVICES)}")


@dataclass(frozen=True)
class Port:
    """A loopback port a service listens on, and the setting that moves it."""

    number: int
    label: str
    setting: str


@dataclass(frozen=True)
class Layout:
    """Absolute paths under the state folder."""

    root: Path
    jars_root: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        root = settings.state_dir.expanduser().resolve()
        jars = settings.jars_dir.expanduser().resolve() if settings.jars_dir else root / "jars"
        return cls(root=root, jars_root=jars)

    def home(self, spec: ServiceSpec) -> Path:
        return self.root / spec.name

    def logs(self, spec: ServiceSpec) -> Path:
        return self.home(spec) / "logs"

    def main_log(self, spec: ServiceSpec) -> Path:
        return self.logs(spec) / spec.main_log

    def console_log(self, spec: ServiceSpec) -> Path:
        """stdout/stderr of the JVM: where crashes before logging is set up end up."""
        return self.logs(spec) / "console.log"

    def record(self, spec: ServiceSpec) -> Path:
        return self.root / "run" / f"{spec.name}.json"

    def jars(self, spec: ServiceSpec) -> Path:
        return self.jars_root / f"{spec.name}-{spec.version}"


def absolute_settings(settings: Settings) -> Settings:
    """A copy of ``settings`` whose state folder is absolute, so spawned JVMs and the password file
    do not depend on the current directory."""
    return settings.model_copy(update={"state_dir": settings.state_dir.expanduser().resolve()})


def service_ports(spec: ServiceSpec, settings: Settings) -> list[Port]:
    """The ports ``spec`` binds on 127.0.0.1 with these settings."""
    if spec is KAFKA:
        return [
            Port(settings.kafka_port, "Kafka broker", "CHAINRISK_KAFKA_BOOTSTRAP"),
            Port(settings.kafka_controller_port, "Kafka controller", "CHAINRISK_KAFKA_CONTROLLER_PORT"),
        ]
    return [
        Port(settings.neo4j_bolt_port, "Neo4j Bolt", "CHAINRISK_NEO4J_URI"),
        Port(settings.neo4j_http_port, "Neo4j HTTP/Browser", "CHAINRISK_NEO4J_HTTP_PORT"),
    ]


def endpoints(spec: ServiceSpec, settings: Settings) -> dict[str, str]:
    """What a client connects to, for display."""
    if spec is KAFKA:
        return {"bootstrap": settings.kafka_bootstrap}
    return {"bolt": settings.neo4j_uri, "browser": settings.browser_url}


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def check_loopback(settings: Settings) -> None:
    """Refuse settings that point the local services anywhere but loopback."""
    servers = [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]
    if len(servers) != 1 or not _is_loopback(servers[0].rsplit(":", 1)[0]):
        raise ServiceError(
            f"`chainrisk services` runs one Kafka broker on {HOST}; CHAINRISK_KAFKA_BOOTSTRAP is "
            f"{settings.kafka_bootstrap!r} (expected e.g. 127.0.0.1:9092)"
        )
    host = settings.neo4j_uri.split("://", 1)[-1].rsplit(":", 1)[0]
    if not _is_loopback(host):
        raise ServiceError(
            f"`chainrisk services` runs Neo4j on {HOST}; CHAINRISK_NEO4J_URI is {settings.neo4j_uri!r} "
            f"(expected e.g. bolt://127.0.0.1:7687)"
        )


# --- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRecord:
    """A started JVM as recorded in ``run/<name>.json``. The start time guards against pid reuse."""

    pid: int
    start_ticks: int | None
    version: str
    started_at: float


def read_record(layout: Layout, spec: ServiceSpec) -> ProcessRecord | None:
    """The recorded process of ``spec``, or None when there is no (readable) record."""
    path = layout.record(spec)
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(int(data["pid"]), data.get("start_ticks"), str(data["version"]), float(data["started_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a corrupt record cannot name a process safely: treat as absent


def write_record(layout: Layout, spec: ServiceSpec, pid: int) -> ProcessRecord:
    """Record ``pid`` as the running ``spec``."""
    record = ProcessRecord(pid, _start_ticks(pid), spec.version, time.time())
    path = layout.record(spec)
    ensure_private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.__dict__) + "\n")
    tmp.replace(path)
    return record


def remove_record(layout: Layout, spec: ServiceSpec) -> None:
    with contextlib.suppress(FileNotFoundError):
        layout.record(spec).unlink()


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _start_ticks(pid: int) -> int | None:
    """Start time of a live, non-zombie process in clock ticks since boot (Linux); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # the command name in parentheses may contain spaces
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return None
    return int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    """True when the recorded process still runs and is the same process (not a reused pid)."""
    if Path("/proc/self/stat").exists():
        ticks = _start_ticks(record.pid)
        return ticks is not None and (record.start_ticks is None or ticks == record.start_ticks)
    try:  # no /proc: best effort
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(record: ProcessRecord, sig: int) -> None:
    """Send ``sig`` to the recorded process, after checking it is still that process."""
    if is_alive(record):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)


def _spawn(cmd: list[str], cwd: Path, console_log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached from this process (own session, no stdin), output to ``console_log``."""
    console_log.parent.mkdir(parents=True, exist_ok=True)
    if console_log.exists():  # keep the previous run's console output, but only one generation
        console_log.replace(console_log.with_suffix(".log.1"))
    with console_log.open("ab") as out:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _child_env() -> dict[str, str]:
    """Environment for the JVMs: ours, minus secrets they have no use for."""
    return {k: v for k, v in os.environ.items() if not (k.startswith("CHAINRISK_") and "PASSWORD" in k)}


# --- ports and logs ----------------------------------------------------------------------------


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already holds ``host:port`` (we cannot bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR so a port in TIME_WAIT from our own last run does not count as taken
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_owner(port: int) -> str | None:
    """Best effort: 'pid N (name)' of the process listening on ``port``, from `ss`, if it can tell."""
    ss = shutil.which("ss")
    if not ss:
        return None
    try:
        out = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'\(\("([^"]+)",pid=(\d+)', out)
    return f"pid {match.group(2)} ({match.group(1)})" if match else None


def tcp_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a text file (empty when it does not exist)."""
    try:
        with path.open("r", errors="replace") as fh:
            return [line.rstrip("\n") for line in deque(fh, maxlen=lines)]
    except OSError:
        return []


def log_report(layout: Layout, spec: ServiceSpec, lines: int = LOG_TAIL_LINES) -> str:
    """The tails of ``spec``'s main and console logs, and where its logs are."""
    parts: list[str] = []
    shown: set[str] = set()
    for path in (layout.main_log(spec), layout.console_log(spec)):
        text = tail(path, lines)
        if text and not set(text) <= shown:  # the console log often repeats the main log's errors
            shown.update(text)
            parts.append(f"--- last {len(text)} lines of {path} ---")
            parts.extend(text)
    parts.append(f"{spec.name} logs are in {layout.logs(spec)}")
    return "\n".join(parts)


def _failure(layout: Layout, spec: ServiceSpec, cause: str) -> ServiceError:
    return ServiceError(f"{spec.name} failed to start: {cause}\n{log_report(layout, spec)}")


def check_ports_free(layout: Layout, spec: ServiceSpec, settings: Settings) -> None:
    """Fail with a clear message when a port ``spec`` needs is already taken by another process."""
    for port in service_ports(spec, settings):
        if port_in_use(port.number):
            owner = port_owner(port.number)
            by = f" by {owner}" if owner else " by another process"
            raise _failure(
                layout,
                spec,
                f"port {port.number} on {HOST} ({port.label}) is already in use{by}. "
                f"Stop that process, or choose another port with {port.setting}.",
            )


# --- java and maven ----------------------------------------------------------------------------


def java_executable(settings: Settings) -> str:
    """The `java` to run: Settings.java_home, else $JAVA_HOME, else the one on PATH."""
    home = settings.java_home or (Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None)
    if home is not None:
        candidate = Path(home).expanduser() / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
        raise ServiceError(f"no executable java at {candidate} (from CHAINRISK_JAVA_HOME/JAVA_HOME)")
    found = shutil.which("java")
    if not found:
        raise ServiceError(f"Java {MIN_JAVA} or newer is needed (Debian: apt-get install openjdk-17-jre-headless)")
    return found


def java_major(java: str) -> int:
    """The major version of ``java`` (8 for 1.8, 17 for 17.0.x)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"cannot run {java} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise ServiceError(f"cannot tell the version of {java}: {out.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java(java: str, progress: Progress) -> None:
    """Require Java 17+; Neo4j 5.26 is supported on Java 17 and 21."""
    major = java_major(java)
    if major < MIN_JAVA:
        raise ServiceError(f"{java} is Java {major}; Kafka {KAFKA_VERSION} and Neo4j {NEO4J_VERSION} need Java 17 or 21")
    if major > 21:
        progress(f"warning: {java} is Java {major}; Neo4j {NEO4J_VERSION} is supported on Java 17 and 21")


def fetch_jars(spec: ServiceSpec, layout: Layout, progress: Progress) -> Path:
    """The folder of ``spec``'s runtime jars, fetched with Maven the first time.

    The jars land in a temporary folder that is renamed into place only when Maven succeeded, so a
    half-finished fetch is never mistaken for a complete one.
    """
    target = layout.jars(spec)
    if (target / ".complete").exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServiceError("Maven (mvn) is needed to fetch the server jars (Debian: apt-get install maven)")
    layout.jars_root.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)  # left by an interrupted fetch of an older release of this module
    progress(f"fetching {spec.name} {spec.version} jars with Maven into {target} (first run only) ...")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=layout.jars_root))
    try:
        pom = work / "pom.xml"
        pom.write_bytes(resources.files(__package__).joinpath(spec.pom).read_bytes())
        lib = work / "lib"
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={lib}",
               "-DincludeScope=runtime"]
        try:
            result = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=MAVEN_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"Maven did not finish fetching {spec.name} jars within {MAVEN_TIMEOUT:.0f} s") from exc
        if result.returncode != 0 or not lib.is_dir():
            output = (result.stdout + result.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
            raise ServiceError(
                f"Maven could not fetch the {spec.name} {spec.version} jars (exit {result.returncode}); "
                f"it needs Maven Central reachable or the jars in ~/.m2:\n" + "\n".join(output)
            )
        (lib / ".complete").write_text(f"{spec.name} {spec.version}\n")
        lib.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    jars = list(target.glob("*.jar"))
    size = sum(j.stat().st_size for j in jars) / 1e6
    progress(f"fetched {len(jars)} {spec.name} jars ({size:.0f} MB) in {time.monotonic() - started:.1f} s")
    return target


# --- rendering and first-run setup -------------------------------------------------------------


def _render(template: str, target: Path, **values: object) -> Path:
    """Write the packaged ``template`` to ``target`` with ``${name}`` placeholders filled in."""
    text = resources.files(__package__).joinpath(template).read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(text).substitute({k: str(v) for k, v in values.items()}))
    return target


def _run_tool(cmd: list[str], what: str, cwd: Path, secret: str | None = None) -> str:
    """Run a short JVM tool and return its output; a failure raises with the (secret-free) output."""
    try:
        result = subprocess.run(cmd, cwd=cwd, env=_child_env(), stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"{what} failed: {exc}") from exc
    output = (result.stdout + result.stderr).strip()
    if secret:
        output = output.replace(secret, "********")
    if result.returncode != 0:
        raise ServiceError(f"{what} failed (exit {result.returncode}):\n{output[-4000:]}")
    return output


def prepare_kafka(settings: Settings, layout: Layout, java: str, jars: Path, progress: Progress) -> list[str]:
    """Render Kafka's config, format its storage the first time, and return the broker command."""
    home = layout.home(KAFKA)
    data = home / "data"
    server_props = _render(
        "kafka-server.properties.tmpl",
        home / "server.properties",
        host=HOST,
        broker_port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        data_dir=data,
    )
    log4j = _render("kafka-log4j.properties.tmpl", home / "log4j.properties", log_file=layout.main_log(KAFKA))
    layout.logs(KAFKA).mkdir(parents=True, exist_ok=True)
    classpath = f"{jars}/*"
    if not (data / "meta.properties").exists():
        progress(f"formatting Kafka storage in {data} (first run only)")
        tools_log4j = resources.files(__package__).joinpath("kafka-tools-log4j.properties")
        with resources.as_file(tools_log4j) as tools_cfg:
            base = [java, f"-Dlog4j.configuration=file:{tools_cfg}", "-cp", classpath, "kafka.tools.StorageTool"]
            cluster_id = _run_tool(base + ["random-uuid"], "Kafka storage id", home).splitlines()[-1].strip()
            _run_tool(base + ["format", "-t", cluster_id, "-c", str(server_props)], "Kafka storage format", home)
    return [java, *KAFKA_JVM_OPTS, f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath, "kafka.Kafka",
            str(server_props)]


def _argfile_quote(value: str) -> str:
    """Quote ``value`` for a java @argfile (backslash and double quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_initial_password(java: str, jars: Path, home: Path, password: str) -> None:
    """Store Neo4j's initial password with `neo4j-admin dbms set-initial-password`, before first start.

    The password goes through a 0600 java @argfile rather than the command line, so it never shows
    up in `ps` or /proc/<pid>/cmdline.
    """
    run_dir = home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="set-password-", suffix=".args", dir=run_dir)  # mode 0600
    argfile = Path(name)
    try:
        with os.fdopen(fd, "w") as fh:
            # "--" ends the options: a password may start with "-" (token_urlsafe ones do, 1 in 32)
            fh.write("org.neo4j.cli.AdminTool\ndbms\nset-initial-password\n--\n" + _argfile_quote(password) + "\n")
        try:
            result = subprocess.run(
                [java, "-cp", f"{jars}/*", f"@{argfile}"],
                cwd=home,
                env={**_child_env(), "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServiceError(f"setting the Neo4j initial password failed: {exc}") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).replace(password, "********").strip()
            raise ServiceError(f"setting the Neo4j initial password failed (exit {result.returncode}):\n{output[-4000:]}")
    finally:
        argfile.unlink(missing_ok=True)


def prepare_neo4j(settings: Settings, layout: Layout, java: str, jars: Path, progress: Progress) -> list[str]:
    """Render neo4j.conf, set the initial password before the first start, return the server command."""
    home = layout.home(NEO4J)
    for sub in ("conf", "data", "logs", "run", "import", "plugins"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    _render(
        "neo4j.conf.tmpl",
        home / "conf" / "neo4j.conf",
        host=HOST,
        bolt_port=settings.neo4j_bolt_port,
        http_port=settings.neo4j_http_port,
        home=home,
    )
    first_start = not (home / "data" / "databases" / "system").exists()
    if first_start and not (home / "data" / "dbms" / "auth.ini").exists():
        password = settings.resolve_neo4j_password(create=True)
        where = "CHAINRISK_NEO4J_PASSWORD" if settings.neo4j_password is not None else str(settings.password_file())
        progress(f"setting the Neo4j initial password (from {where}; first run only)")
        set_initial_password(java, jars, home, password)
    return [java, *NEO4J_JVM_OPTS, "-cp", f"{jars}/*", "org.neo4j.server.CommunityEntryPoint",
            f"--home-dir={home}", f"--config-dir={home / 'conf'}"]


# --- readiness ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence client libraries' connection warnings while polling a server that is still starting."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def kafka_ready(settings: Settings) -> bool:
    """True when the broker answers a metadata request from kafka-python."""
    if not tcp_open(settings.kafka_port):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        with _quiet("kafka"):
            admin = KafkaAdminClient(**settings.kafka_client_config(), client_id="chainrisk-services-probe",
                                     request_timeout_ms=5000)
            try:
                admin.list_topics()
            finally:
                admin.close()
    except (KafkaError, OSError):
        return False
    return True


def neo4j_ready(settings: Settings, password: str) -> bool:
    """True when a Bolt login with the configured user and password succeeds and HTTP answers.

    A rejected password raises ServiceError at once: retrying would only lock the account.
    """
    if not (tcp_open(settings.neo4j_bolt_port) and tcp_open(settings.neo4j_http_port)):
        return False
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, DriverError, Neo4jError

    try:
        with _quiet("neo4j"), GraphDatabase.driver(
            settings.neo4j_uri, auth=(settings.neo4j_user, password), connection_timeout=5.0
        ) as driver:
            driver.verify_connectivity()
    except AuthError as exc:
        raise ServiceError(
            f"Neo4j rejected the login of user {settings.neo4j_user!r}: {exc.message}. The database was "
            f"initialised with another password on its first start. Use that password "
            f"(CHAINRISK_NEO4J_PASSWORD or {settings.password_file()}), or stop the services and delete "
            f"{Layout.of(settings).home(NEO4J) / 'data'} to start afresh."
        ) from exc
    except (DriverError, Neo4jError, OSError):
        return False
    try:
        with urllib.request.urlopen(f"http://{HOST}:{settings.neo4j_http_port}/", timeout=5) as resp:
            status: int = resp.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def _probe(spec: ServiceSpec, settings: Settings, password: str | None) -> bool:
    if spec is KAFKA:
        return kafka_ready(settings)
    return neo4j_ready(settings, password or "")


def wait_ready(
    spec: ServiceSpec,
    settings: Settings,
    layout: Layout,
    record: ProcessRecord,
    password: str | None,
    deadline: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> float:
    """Poll ``spec`` until it is ready; return the seconds waited. Raises with the log tail when the
    JVM dies or the deadline (``time.monotonic()``) passes."""
    started = time.monotonic()
    while True:
        exit_code = proc.poll() if proc is not None else None
        if exit_code is not None or not is_alive(record):
            code = f" with code {exit_code}" if exit_code is not None else ""
            raise _failure(layout, spec, f"the JVM (pid {record.pid}) exited{code} during start-up")
        if _probe(spec, settings, password):
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise _failure(
                layout, spec, f"not ready after {settings.services_timeout:.0f} s (pid {record.pid} still running; "
                f"raise CHAINRISK_SERVICES_TIMEOUT or run `chainrisk services down`)"
            )
        time.sleep(0.5)


# --- commands ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceStatus:
    """What `status` reports for one service."""

    name: str
    version: str
    state: str  # "up", "not answering" (process alive, ports closed) or "down"
    pid: int | None
    endpoints: dict[str, str]
    logs: Path

    @property
    def up(self) -> bool:
        return self.state == "up"


def status(settings: Settings) -> list[ServiceStatus]:
    """Each service's recorded process and whether its ports answer (cheap: no login)."""
    settings = absolute_settings(settings)
    layout = Layout.of(settings)
    result = []
    for spec in SERVICES:
        record = read_record(layout, spec)
        alive = record is not None and is_alive(record)
        if alive:
            answering = all(tcp_open(p.number) for p in service_ports(spec, settings))
            state = "up" if answering else "not answering"
        else:
            state = "down"
        result.append(
            ServiceStatus(spec.name, spec.version, state, record.pid if alive and record else None,
                          endpoints(spec, settings), layout.logs(spec))
        )
    return result


def up(settings: Settings, progress: Progress = stderr_progress, only: tuple[ServiceSpec, ...] = SERVICES) -> list[ServiceStatus]:
    """Start Kafka and Neo4j (or the services ``only`` names) unless they already run; return once they are ready.

    Services that already run (recorded pid alive) are only checked for readiness. On a failure,
    whatever this call started is stopped again and ServiceError says why, with the log tail.
    """
    settings = absolute_settings(settings)
    layout = Layout.of(settings)
    check_loopback(settings)
    ensure_private_dir(settings.state_dir)  # password, databases, logs: the owner's only
    to_start: list[ServiceSpec] = []
    running: dict[ServiceSpec, ProcessRecord] = {}
    for spec in only:
        record = read_record(layout, spec)
        if record is not None and is_alive(record):
            running[spec] = record
        else:
            if record is not None:
                progress(f"{spec.name}: removing stale pid record {record.pid}")
            remove_record(layout, spec)
            to_start.append(spec)
    for spec in to_start:
        check_ports_free(layout, spec, settings)
    password = settings.resolve_neo4j_password(create=NEO4J in to_start) if NEO4J in only else None
    if NEO4J in to_start and len(password or "") < NEO4J_MIN_PASSWORD_LENGTH:
        raise ServiceError(
            f"the Neo4j password must have at least {NEO4J_MIN_PASSWORD_LENGTH} characters "
            f"(check CHAINRISK_NEO4J_PASSWORD)"
        )

    started: dict[ServiceSpec, tuple[ProcessRecord, subprocess.Popen[bytes]]] = {}
    try:
        if to_start:
            java = java_executable(settings)
            check_java(java, progress)
            jars = {spec: fetch_jars(spec, layout, progress) for spec in to_start}
            for spec in to_start:
                prepare = prepare_kafka if spec is KAFKA else prepare_neo4j
                cmd = prepare(settings, layout, java, jars[spec], progress)
                proc = _spawn(cmd, layout.home(spec), layout.console_log(spec), _child_env())
                started[spec] = (write_record(layout, spec, proc.pid), proc)
                progress(f"started {spec.name} {spec.version} (pid {proc.pid}); logs in {layout.logs(spec)}")
        for spec in only:
            child: subprocess.Popen[bytes] | None  # ours to watch only when started here
            if spec in running:
                record, child = running[spec], None
            else:
                record, child = started[spec]
            ports = ", ".join(f"{HOST}:{p.number}" for p in service_ports(spec, settings))
            if spec in running:
                progress(f"{spec.name} has a running process (pid {record.pid}); checking it answers on {ports}")
            else:
                progress(f"waiting for {spec.name} on {ports} ...")
            deadline = time.monotonic() + settings.services_timeout
            wait_ready(spec, settings, layout, record, password, deadline, child)
            if spec in running:
                progress(f"{spec.name} already running (pid {record.pid})")
            else:
                progress(f"{spec.name} ready {time.time() - record.started_at:.1f} s after start (pid {record.pid})")
    except BaseException:
        for spec, (record, proc) in started.items():
            _stop_one(layout, spec, record, progress, quiet=True)
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
        raise
    return status(settings)


def _stop_one(layout: Layout, spec: ServiceSpec, record: ProcessRecord, progress: Progress, quiet: bool = False) -> None:
    """SIGTERM the recorded process, SIGKILL it after STOP_TIMEOUT, then drop its record."""
    if not quiet:
        progress(f"stopping {spec.name} (pid {record.pid}) ...")
    _signal(record, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.2)
    if is_alive(record):
        progress(f"{spec.name} (pid {record.pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f} s: sending SIGKILL")
        _signal(record, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while is_alive(record) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    remove_record(layout, spec)


def down(settings: Settings, progress: Progress = stderr_progress, only: tuple[ServiceSpec, ...] = SERVICES) -> list[str]:
    """Stop exactly the recorded Kafka and Neo4j processes (both at once; or the services ``only``
    names); return one line each."""
    settings = absolute_settings(settings)
    layout = Layout.of(settings)
    live: dict[ServiceSpec, ProcessRecord] = {}
    lines: list[str] = []
    for spec in only:
        record = read_record(layout, spec)
        if record is not None and is_alive(record):
            live[spec] = record
            progress(f"stopping {spec.name} (pid {record.pid}) ...")
            _signal(record, signal.SIGTERM)
        else:
            remove_record(layout, spec)
            lines.append(f"{spec.name} is not running")
    started = time.monotonic()
    for spec, record in live.items():
        _stop_one(layout, spec, record, progress, quiet=True)  # SIGTERM again is harmless
        lines.append(f"{spec.name} stopped (pid {record.pid}) in {time.monotonic() - started:.1f} s")
    return lines


def log_lines(settings: Settings, name: str, lines: int) -> tuple[Path, list[str]]:
    """The main log file of service ``name`` and its last ``lines`` lines."""
    spec = spec_named(name)
    path = Layout.of(absolute_settings(settings)).main_log(spec)
    return path, tail(path, lines)


# --- bulk import -------------------------------------------------------------------------------------

IMPORT_TIMEOUT = 7200.0
IMPORT_JVM_OPTS = ["-Xms512m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                   "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED"]


def neo4j_running(settings: Settings) -> bool:
    """Whether the Neo4j of this state folder (started by :func:`up`) has a live recorded process."""
    record = read_record(Layout.of(absolute_settings(settings)), NEO4J)
    return record is not None and is_alive(record)


def import_database(settings: Settings, database: str, nodes: list[tuple[str, Path]], relationships: list[tuple[str, Path]],
                    options: list[str], progress: Progress = stderr_progress) -> str:
    """Replace ``database`` of this state folder's Neo4j with the CSV files (``neo4j-admin database
    import full --overwrite-destination``; each pair: label or type, file) and return the tool's
    output. The Neo4j server must be stopped (Community Edition imports offline only)."""
    settings = absolute_settings(settings)
    layout = Layout.of(settings)
    if neo4j_running(settings):
        raise ServiceError(f"Neo4j (state folder {settings.state_dir}) is running: stop it before an import")
    home = layout.home(NEO4J)
    if not (home / "conf" / "neo4j.conf").exists():
        raise ServiceError(f"no Neo4j in {home}: run `chainrisk services up` once first (the import writes into its data folder)")
    java = java_executable(settings)
    jars = fetch_jars(NEO4J, layout, progress)
    report = home / "logs" / "import.report"
    cmd = [java, *IMPORT_JVM_OPTS, "-cp", f"{jars}/*", "org.neo4j.cli.AdminTool", "database", "import", "full", database,
           "--overwrite-destination=true", f"--report-file={report}", *options,
           *(f"--nodes={path}" for _, path in nodes), *(f"--relationships={path}" for _, path in relationships)]
    progress(f"importing {len(nodes)} node and {len(relationships)} relationship files into Neo4j database {database!r}")
    try:
        result = subprocess.run(cmd, cwd=home, env={**_child_env(), "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")},
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=IMPORT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"neo4j-admin database import failed: {exc}") from exc
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise ServiceError(f"neo4j-admin database import failed (exit {result.returncode}); report {report}:\n{output[-4000:]}")
    return output
