"""What every process did on the network and on disk, read from strace's log.

The old egress test watched Python audit hooks and sampled ``/proc/*/net``: native
code (onnxruntime's telemetry threads, Chromium) is invisible to the first, and a
DNS query's UDP socket lives for milliseconds, between two samples of the second.
The kernel sees every one: ``strace -f`` follows every thread and child process
and logs each ``connect``/``bind``/``sendto``/``sendmsg``/``sendmmsg`` with its
address, and each call that creates or writes a file, with its path.

:data:`STRACE` is the command prefix; :func:`parse` turns a log into processes
(who exec'd what, which thread belongs to which process) and events;
:func:`egress` and :func:`writes_outside` judge them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

NETWORK_CALLS = ("connect", "bind", "sendto", "sendmsg", "sendmmsg")
PROCESS_CALLS = ("execve", "execveat", "clone", "clone3", "fork", "vfork", "chdir")
FILE_CALLS = (
    "open",
    "openat",
    "openat2",
    "creat",
    "mkdir",
    "mkdirat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
)


def strace_command(log: Path) -> list[str]:
    """The prefix that runs a command under strace, logging to ``log``.

    ``--seccomp-bpf`` stops the tracee only on the listed calls (a full ptrace of
    every syscall would slow onnxruntime several-fold); ``-yy`` prints what each
    file descriptor is (a socket's both ends, a file's path); ``--decode-pids=comm``
    names each thread.
    """
    calls = ",".join((*NETWORK_CALLS, *PROCESS_CALLS, *FILE_CALLS))
    return [
        "strace",
        "-f",
        "--seccomp-bpf",
        "-qq",
        "-s",
        "512",
        "-yy",
        "--decode-pids=comm",
        "-e",
        "signal=none",
        "-e",
        f"trace={calls}",
        "-o",
        str(log),
    ]


#: Sockets through which glibc (nscd), systemd-resolved and avahi (nss-mdns) resolve
#: names: a connect to one of them is a name lookup leaving the process.
RESOLVER_SOCKETS = (
    "/var/run/nscd/socket",
    "/run/nscd/socket",
    "/run/systemd/resolve/io.systemd.Resolve",
    "/run/systemd/resolve/io.systemd.Resolve.Monitor",
    "/var/run/avahi-daemon/socket",
    "/run/avahi-daemon/socket",
)
DNS_PORTS = (53, 853, 5353)  # DNS, DNS over TLS, multicast DNS
LOCAL_FAMILIES = ("AF_UNIX", "AF_NETLINK", "AF_UNSPEC")


@dataclass
class Process:
    pid: int
    argv: list[str] = field(default_factory=list)
    parent: int | None = None

    def describe(self) -> str:
        argv = list(self.argv)
        if argv[1:2] == ["-c"] and len(argv) > 2:  # a -c program: its arguments say more
            argv[2] = "'" + argv[2].strip().splitlines()[0][:30] + "...'"
        cmd = " ".join(a.replace("\n", " ") for a in argv) if argv else "?"
        return f"pid {self.pid} [{cmd[:200]}]"


@dataclass(frozen=True)
class Call:
    tid: int
    comm: str
    name: str
    args: str
    ret: str
    line_no: int


@dataclass(frozen=True)
class Finding:
    """One thing that must not happen, with who did it."""

    kind: str  # "dns", "network", "resolver socket", "address family"
    call: Call
    address: str
    process: str
    pid: int
    lookup: str = ""  # the DNS query's name, when the payload was there to read

    def __str__(self) -> str:
        what = f" looking up {self.lookup!r}" if self.lookup else ""
        return (
            f"{self.kind}: {self.call.name}() to {self.address}{what} by thread "
            f"{self.call.tid}<{self.call.comm}> of {self.process} (log line {self.call.line_no})"
        )


@dataclass(frozen=True)
class Write:
    call: Call
    path: str
    process: str

    def __str__(self) -> str:
        return f"{self.call.name}() {self.path} by {self.process}"


@dataclass
class Trace:
    processes: dict[int, Process]
    thread_of: dict[int, int]  # tid -> pid of its process
    calls: list[Call]
    cwd: dict[int, str]

    def process_of(self, tid: int) -> Process:
        pid = self.thread_of.get(tid, tid)
        proc = self.processes.get(pid) or Process(pid)
        return proc

    def describe(self, tid: int) -> str:
        proc = self.process_of(tid)
        text = proc.describe()
        if proc.parent is not None and proc.parent in self.processes:
            text += f", child of {self.processes[proc.parent].describe()}"
        return text

    def commands(self) -> list[str]:
        return [p.describe() for p in self.processes.values() if p.argv]


_LINE = re.compile(r"^(\d+)<(.{0,32}?)> (.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+= (.*)$", re.S)
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
_STR = r'"((?:[^"\\]|\\.)*)"'


def parse(text: str, start_cwd: str = "/") -> Trace:
    """Parse an ``strace -f -yy --decode-pids=comm`` log (see :func:`strace_command`)."""
    pending: dict[int, tuple[str, int]] = {}
    calls: list[Call] = []
    for no, line in enumerate(text.splitlines(), 1):
        m = _LINE.match(line)
        if not m:
            continue
        tid, comm, rest = int(m[1]), m[2], m[3]
        if rest.startswith(("+++", "---")):
            continue
        if rest.endswith(_UNFINISHED):
            pending[tid] = (rest[: -len(_UNFINISHED)], no)
            continue
        r = _RESUMED.match(rest)
        if r:
            head, no0 = pending.pop(tid, (f"{r[1]}(", no))
            rest, no = head + r[2], no0
        c = _CALL.match(rest)
        if c:
            calls.append(Call(tid, comm, c[1], c[2], c[3].strip(), no))
    return _build(calls, start_cwd)


def _build(calls: list[Call], start_cwd: str) -> Trace:
    processes: dict[int, Process] = {}
    thread_of: dict[int, int] = {}
    parent_tid: dict[int, tuple[int, bool]] = {}  # child tid -> (creator tid, is thread)
    execs: dict[int, list[str]] = {}
    chdirs: dict[int, str] = {}
    for call in calls:
        if call.name in ("clone", "clone3", "fork", "vfork"):
            child = re.match(r"(\d+)", call.ret)
            if child:
                parent_tid[int(child[1])] = (call.tid, "CLONE_THREAD" in call.args)
        elif call.name in ("execve", "execveat") and call.ret.startswith("0"):
            listed = re.search(r"\[(.*?)\](?:, 0x|, \[| /\*|$)", call.args)
            execs[call.tid] = [_unescape(s).decode("utf-8", "replace") for s in _strings(listed)]
        elif call.name == "chdir" and call.ret.startswith("0"):
            where = re.match(_STR, call.args)
            if where:
                chdirs[call.tid] = _unescape(where[1]).decode("utf-8", "replace")

    def pid_of(tid: int, depth: int = 0) -> int:
        link = parent_tid.get(tid)
        if link is None or not link[1] or depth > 10_000:
            return tid
        return pid_of(link[0], depth + 1)

    tids = {c.tid for c in calls} | set(parent_tid)
    for tid in tids:
        pid = pid_of(tid)
        thread_of[tid] = pid
        proc = processes.setdefault(pid, Process(pid))
        if tid == pid and tid in parent_tid:
            proc.parent = pid_of(parent_tid[tid][0])
    for tid, argv in execs.items():  # an exec replaces the image: its argv names it
        processes[thread_of.get(tid, tid)].argv = argv
    cwd = {pid: start_cwd for pid in processes}
    for tid, path in chdirs.items():
        cwd[thread_of.get(tid, tid)] = path
    return Trace(processes, thread_of, calls, cwd)


def _strings(m: re.Match[str] | None) -> list[str]:
    return re.findall(_STR, m[1]) if m else []


def _unescape(s: str) -> bytes:
    """Undo strace's C-style escaping of a string argument."""
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92, "'": 39}
    while i < len(s):
        ch = s[i]
        if ch != "\\" or i + 1 == len(s):
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = s[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            out.append(int(s[i + 2 : i + 4], 16))
            i += 4
        elif nxt.isdigit():
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out += nxt.encode()
            i += 2
    return bytes(out)


def dns_qname(payload: bytes) -> str:
    """The first question's name of a DNS query ('' if it is not one)."""
    if len(payload) < 13:
        return ""
    labels: list[str] = []
    i = 12
    while i < len(payload) and len(labels) < 128:
        n = payload[i]
        if n == 0:
            return ".".join(labels)
        if n > 63 or i + 1 + n > len(payload):
            return ""
        labels.append(payload[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ""


# ------------------------------------------------------------------ network
_INET = re.compile(
    r"sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\(\"([^\"]*)\"\)"
)
_INET6 = re.compile(
    r"sa_family=AF_INET6, sin6_port=htons\((\d+)\),.*?inet_pton\(AF_INET6, \"([^\"]*)\""
)
_UNIX = re.compile(r"sa_family=AF_UNIX, sun_path=(@?)" + _STR)
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_PEER = re.compile(r"<(?:TCP|UDP|TCPv6|UDPv6|UDPLITE|UDPLITEv6|SCTP|SCTPv6):\[(.*?)->(.*?)\]>")


def _host_port(text: str) -> tuple[str, int] | None:
    """'10.0.0.1:53' or '[2001:db8::1]:443' (strace's -yy socket ends) -> (host, port)."""
    m = re.match(r"^\[?([0-9a-fA-F:.]+?)\]?:(\d+)$", text)
    return (m[1], int(m[2])) if m else None


def _is_loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def egress(trace: Trace) -> list[Finding]:
    """Every network call that is not loopback, and every name lookup (DNS on any
    address, loopback too: a local stub resolver forwards; resolver daemons' sockets)."""
    found: list[Finding] = []
    for call in trace.calls:
        if call.name not in NETWORK_CALLS:
            continue
        found += _judge(trace, call)
    return found


def _judge(trace: Trace, call: Call) -> list[Finding]:
    who = trace.describe(call.tid)
    pid = trace.thread_of.get(call.tid, call.tid)
    out: list[Finding] = []
    addrs: list[tuple[str, int]] = [(h, int(p)) for p, h in _INET.findall(call.args)]
    addrs += [(h, int(p)) for p, h in _INET6.findall(call.args)]
    if call.name != "bind":  # a connected socket's far end, shown by -yy on its fd
        for _local, remote in _PEER.findall(call.args.split(",", 1)[0]):
            hp = _host_port(remote)
            if hp:
                addrs.append(hp)
    lookup = _lookup_name(call)
    for host, port in addrs:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if port in DNS_PORTS and call.name != "bind":
            out.append(Finding("dns", call, shown, who, pid, lookup))
        elif call.name == "bind":
            # Port 0 on the unspecified address is an ephemeral client socket; anything
            # else not on loopback listens (or sends) beyond this machine.
            if not (_is_loopback(host) or (_is_unspecified(host) and port == 0)):
                out.append(Finding("network", call, shown, who, pid))
        elif not _is_loopback(host):
            out.append(Finding("network", call, shown, who, pid, lookup))
    for abstract, path in _UNIX.findall(call.args):
        name = _unescape(path).decode("utf-8", "replace")
        if not abstract and call.name == "connect" and name in RESOLVER_SOCKETS:
            out.append(Finding("resolver socket", call, name, who, pid))
    for fam in _FAMILY.findall(call.args):
        if fam not in (*LOCAL_FAMILIES, "AF_INET", "AF_INET6"):
            out.append(Finding("address family", call, fam, who, pid))
    return out


def _lookup_name(call: Call) -> str:
    if call.name not in ("sendto", "sendmsg", "sendmmsg"):
        return ""
    # sendmsg/sendmmsg carry the payload in iov_base; sendto's buffer is its first string.
    m = re.search("iov_base=" + _STR, call.args) or re.search(_STR, call.args)
    return dns_qname(_unescape(m[1])) if m else ""


# ------------------------------------------------------------------ files
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
_FD_PATH = re.compile(r"^-?\d+<(.*)>$")
_DEV_SUFFIX = re.compile(r"<(char|block) \d+:\d+>$")  # -yy on a device node
_DIRFD = re.compile(r"^(?:AT_FDCWD|\d+)<(.*?)>, ")


def _resolve(trace: Trace, call: Call, path: str, dirfd_path: str | None) -> str:
    if path.startswith("/"):
        return path
    base = dirfd_path or trace.cwd.get(trace.thread_of.get(call.tid, call.tid), "/")
    return str(Path(base) / path)


def file_writes(trace: Trace) -> list[Write]:
    """Every call that created, truncated, renamed onto or opened a file for writing."""
    out: list[Write] = []
    for call in trace.calls:
        if call.name not in FILE_CALLS or call.ret.startswith("-1"):
            continue
        args = call.args
        dirfd = _DIRFD.match(args)
        dirfd_path = dirfd[1] if dirfd else None
        if dirfd:
            args = args[dirfd.end() :]
        strings = [_unescape(s).decode("utf-8", "replace") for s in re.findall(_STR, args)]
        if not strings:
            continue
        if call.name in ("open", "openat", "openat2", "creat"):
            if call.name != "creat" and not any(f in args for f in _WRITE_FLAGS):
                continue
            fd = _FD_PATH.match(call.ret)
            path = _DEV_SUFFIX.sub("", fd[1]) if fd else ""
            path = path or _resolve(trace, call, strings[0], dirfd_path)
        elif call.name in ("rename", "renameat", "renameat2", "link", "linkat"):
            # The destination: the second path, after the second dirfd if any.
            tail = args.split(", ", 1)[1] if ", " in args else args
            d2 = re.search(r"(?:AT_FDCWD|\d+)<(.*?)>, " + _STR, tail)
            dest = _unescape(d2[2]).decode() if d2 else strings[-1]
            path = _resolve(trace, call, dest, d2[1] if d2 else dirfd_path)
        elif call.name in ("symlink", "symlinkat"):
            tail = args.split(", ", 1)[1] if ", " in args else args
            d2 = re.search(r"(?:AT_FDCWD|\d+)<(.*?)>, " + _STR, tail)
            dest = _unescape(d2[2]).decode() if d2 else strings[-1]
            path = _resolve(trace, call, dest, d2[1] if d2 else dirfd_path)
        else:  # mkdir, mkdirat, truncate
            path = _resolve(trace, call, strings[0], dirfd_path)
        out.append(Write(call, str(Path(path)), trace.describe(call.tid)))
    return out


#: Writes that are not data: terminals, the null device, POSIX semaphores and shared
#: memory (multiprocessing), the kernel's per-process files, Python's bytecode cache.
ALWAYS_ALLOWED = (
    re.compile(r"^/dev/(null|tty|ptmx|pts/\d+|shm/(sem\.|mp-|psm_|wnsm_).*)$"),
    re.compile(r"^/proc/(self|thread-self|\d+)/"),
    re.compile(r"/__pycache__/[^/]+\.pyc(\.\d+)?$"),
)


def writes_outside(writes: Iterable[Write], allowed: Iterable[Path]) -> list[Write]:
    """The writes under none of the ``allowed`` folders/files (nor :data:`ALWAYS_ALLOWED`).

    A named ``DIR/NAME`` also covers ``DIR/.NAME.*``: the temporary sibling an atomic
    write goes through (``.report.html.tmp-123``, ``.pack.partial-123/``) before its
    rename. Whether one was left behind is the scratch-tree check's business.
    """
    roots = [str(Path(a)) for a in allowed]
    temps = [str(Path(a).parent / f".{Path(a).name}.") for a in allowed]
    bad = []
    for w in writes:
        if any(w.path == r or w.path.startswith(r.rstrip("/") + "/") for r in roots):
            continue
        if any(w.path.startswith(t) for t in temps):
            continue
        if any(p.search(w.path) for p in ALWAYS_ALLOWED):
            continue
        bad.append(w)
    return bad
