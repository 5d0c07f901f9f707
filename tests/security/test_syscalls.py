"""The strace log reader and its rules, on lines taken from real logs of this machine
(onnxruntime's telemetry threads, Chromium's network service) and on hostile ones."""

from __future__ import annotations

from pathlib import Path

from tests.security.syscalls import (
    _unescape,
    dns_qname,
    egress,
    file_writes,
    parse,
    writes_outside,
)

# onnxruntime 1.32 with telemetry on: pid 100 runs python, its thread 101 starts
# thread 102 (both CLONE_THREAD), which resolves the collector through glibc.
ORT_LOG = r"""100<strace> execve("/venv/bin/python", ["/venv/bin/python", "-m", "edgeconsole", "run"], 0x7ffe /* 35 vars */) = 0
100<python> clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f} => {parent_tid=[101<python>]}, 88) = 101<python>
101<python> clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f} => {parent_tid=[102<python>]}, 88) = 102<python>
102<python> connect(8<UNIX-STREAM:[49671]>, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
102<python> connect(8<UDP:[50686]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0
102<python> sendto(8<UDP:[192.0.2.2:34023->10.255.255.53:53]>, "\325\2\1\0\0\1\0\0\0\0\0\0\6mobile\6events\4data\tmicrosoft\3com\0\0\34\0\1", 50, MSG_NOSIGNAL, NULL, 0) = 50
102<python> +++ exited with 0 +++
"""  # noqa: E501 (real strace lines)


def test_onnxruntime_lookup_is_named_with_its_process() -> None:
    found = egress(parse(ORT_LOG))
    kinds = [(f.kind, f.address) for f in found]
    assert kinds == [
        ("resolver socket", "/var/run/nscd/socket"),
        ("dns", "10.255.255.53:53"),
        ("dns", "10.255.255.53:53"),
    ]
    sent = found[-1]
    assert sent.lookup == "mobile.events.data.microsoft.com"
    assert sent.pid == 100 and sent.call.tid == 102
    text = str(sent)
    assert "thread 102<python> of pid 100 [/venv/bin/python -m edgeconsole run]" in text
    assert "looking up 'mobile.events.data.microsoft.com'" in text


CHROMIUM_LOG = r"""2487<chromium> clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD <unfinished ...>
2545<chromium> execve("/proc/self/exe", ["/proc/self/exe", "--type=utility", "--utility-sub-type=network.mojom.NetworkService"], 0x5 /* 40 vars */) = 0
2487<chromium> <... clone resumed>, child_tidptr=0x7f) = 2545<chromium>
2545<Chrome_ChildIOT> clone3({flags=CLONE_VM|CLONE_THREAD} => {parent_tid=[2630]}, 88) = 2630<Chrome_ChildIOT>
2630<Chrome_ChildIOT> connect(18<UDPv6:[88203]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:4860:4860::8888", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
2630<Chrome_ChildIOT> <... connect resumed>) = 0
2630<Chrome_ChildIOT> bind(20<UDP:[88210]>, {sa_family=AF_INET, sin_port=htons(49638), sin_addr=inet_addr("0.0.0.0")}, 16) = 0
2487<ThreadPoolForeg> sendmmsg(91<UDP:[192.0.2.2:40793->10.255.255.53:53]>, [{msg_hdr={msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="4/\1\0\0\1\0\0\0\0\0\0\10clients2\6google\3com\0\0\1\0\1", iov_len=37}], msg_iovlen=1}, msg_len=37}], 1, MSG_NOSIGNAL) = 1
2487<chromium> bind(29<NETLINK:[85581]>, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=0x000113}, 12) = 0
2487<chromium> sendmsg(10<UNIX:[86881->86882]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="\4\0", iov_len=2}], msg_iovlen=1}, MSG_NOSIGNAL) = 2
"""  # noqa: E501 (real strace lines)


def test_chromium_ipv6_socket_ephemeral_bind_and_sendmmsg_query() -> None:
    trace = parse(CHROMIUM_LOG)
    found = egress(trace)
    assert [(f.kind, f.address) for f in found] == [
        ("network", "[2001:4860:4860::8888]:443"),
        ("network", "0.0.0.0:49638"),  # a fixed port on every interface
        ("dns", "10.255.255.53:53"),
    ]
    assert found[0].pid == 2545 and "child of pid 2487" in found[0].process
    assert "network.mojom.NetworkService" in found[0].process
    assert found[2].lookup == "clients2.google.com"


def test_loopback_and_local_ipc_are_fine() -> None:
    log = r"""
7<python> connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(8470), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
7<python> connect(3<TCPv6:[2]>, {sa_family=AF_INET6, sin6_port=htons(8470), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
7<python> connect(3<TCPv6:[2]>, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0
7<python> bind(4<TCP:[3]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
7<python> bind(5<UDP:[3]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0
7<python> connect(6<UNIX-STREAM:[4]>, {sa_family=AF_UNIX, sun_path="/tmp/pymp-x/listener"}, 110) = 0
7<python> connect(6<UNIX-STREAM:[4]>, {sa_family=AF_UNIX, sun_path=@"/tmp/.X11-unix/X0"}, 20) = 0
7<python> connect(9<UDP:[5]>, {sa_family=AF_UNSPEC, sa_data="\0\0\0\0"}, 16) = 0
7<python> sendto(8<TCP:[127.0.0.1:5000->127.0.0.1:6000]>, "x", 1, 0, NULL, 0) = 1
"""  # noqa: E501 (real strace lines)
    assert egress(parse(log)) == []


def test_dns_on_loopback_and_mdns_are_still_lookups() -> None:
    log = r"""
7<python> sendto(3<UDP:[9]>, "\1\2\1\0\0\1\0\0\0\0\0\0\3foo\5local\0\0\1\0\1", 23, 0, {sa_family=AF_INET, sin_port=htons(5353), sin_addr=inet_addr("224.0.0.251")}, 16) = 23
7<python> connect(4<UDP:[9]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0
7<python> connect(5<UNIX-STREAM:[9]>, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, 42) = -1 ENOENT (No such file or directory)
7<python> sendmsg(6<UDP:[9]>, {msg_name={sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "fd00::1", &sin6_addr), sin6_scope_id=0}, msg_namelen=28, msg_iov=[{iov_base="\0\1\1\0\0\1\0\0\0\0\0\0\1a\0\0\1\0\1", iov_len=19}]}, 0) = 19
7<python> socket(AF_PACKET, SOCK_RAW, 768) = 7
7<python> sendto(7<PACKET:[9]>, "x", 1, 0, {sa_family=AF_PACKET, sll_protocol=htons(ETH_P_ALL)}, 20) = 1
"""  # noqa: E501 (real strace lines)
    found = egress(parse(log))
    assert [(f.kind, f.address, f.lookup) for f in found] == [
        ("dns", "224.0.0.251:5353", "foo.local"),
        ("dns", "127.0.0.53:53", ""),
        ("resolver socket", "/run/systemd/resolve/io.systemd.Resolve", ""),
        ("dns", "[fd00::1]:53", "a"),
        ("address family", "AF_PACKET", ""),
    ]


def test_garbage_truncated_and_interleaved_lines_do_not_break_the_reader() -> None:
    log = (
        "not a strace line\n"
        "12<x> connect(3<UDP:[1]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_a"
        "\n13<y> <... connect resumed>) = 0\n"  # resumed without its start: kept, no crash
        '14<z> sendto(3, "\\x", 1 <unfinished ...>\n'  # never resumed (killed)
        + "\0\xff"
        * 100
        + "\n15<w> connect(4<UDP:[1]>, {sa_family=AF_INET, sin_port=htons(53), "
        'sin_addr=inet_addr("10.0.0.1")}, 16) = 0\n'
    )
    found = egress(parse(log))
    assert [(f.kind, f.address, f.pid) for f in found] == [("dns", "10.0.0.1:53", 15)]


def test_dns_qname_refuses_what_is_not_a_query() -> None:
    header = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    assert dns_qname(header + b"\x03abc\x03com\x00\x00\x01\x00\x01") == "abc.com"
    assert dns_qname(header + b"\x03ab") == ""  # truncated label
    assert dns_qname(header + b"\x40" + b"a" * 64 + b"\x00") == ""  # label over 63
    assert dns_qname(header + b"\xc0\x0c") == ""  # a compression pointer in a question
    assert dns_qname(b"\x00" * 5) == ""
    assert dns_qname(header + b"\x01a" * 200) == ""  # never-ending name


def test_unescape_reads_strace_c_strings() -> None:
    assert _unescape(r"\6mobile\0\34\1") == b"\x06mobile\x00\x1c\x01"
    assert _unescape(r"a\"b\\c\t\n\x41\177") == b'a"b\\c\t\nA\x7f'
    assert _unescape("\\") == b"\\"


FILES_LOG = r"""50<strace> execve("/venv/bin/python", ["/venv/bin/python", "-m", "edgeconsole", "validate"], 0x1 /* 3 vars */) = 0
50<python> openat(AT_FDCWD</work>, "/venv/lib/x.py", O_RDONLY|O_CLOEXEC) = 3</venv/lib/x.py>
50<python> openat(AT_FDCWD</work>, "report.html", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3</work/report.html>
50<python> openat(AT_FDCWD</work>, "/dev/null", O_WRONLY|O_CLOEXEC) = 4</dev/null<char 1:3>>
50<python> openat(AT_FDCWD</work>, "/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid", O_RDWR|O_CREAT, 0600) = 5</home/u/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid>
50<python> openat(AT_FDCWD</work>, "/home/u/.cache/nope", O_WRONLY|O_CREAT, 0600) = -1 EACCES (Permission denied)
50<python> mkdir("/home/u/.local/share/edgeconsole/journal", 0700) = 0
50<python> chdir("/elsewhere") = 0
50<python> mkdir("rel", 0777) = 0
50<python> renameat2(AT_FDCWD</work>, ".report.pdf.partial-50", AT_FDCWD</work>, "report.pdf", 0) = 0
50<python> rename("/work/.report.json.tmp-50", "/srv/stolen.json") = 0
50<python> symlink("/etc/hosts", "/work/link") = 0
50<python> openat(AT_FDCWD</work>, "/venv/lib/__pycache__/x.cpython-311.pyc.1234", O_WRONLY|O_CREAT|O_EXCL, 0644) = 6</venv/lib/__pycache__/x.cpython-311.pyc.1234>
50<python> openat(AT_FDCWD</work>, "/dev/shm/sem.mp-1a2b", O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600) = 7</dev/shm/sem.mp-1a2b>
"""  # noqa: E501 (real strace lines)


def test_file_writes_resolved_and_judged() -> None:
    writes = file_writes(parse(FILES_LOG, start_cwd="/work"))
    paths = [w.path for w in writes]
    assert paths == [
        "/work/report.html",
        "/dev/null",
        "/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid",
        "/home/u/.local/share/edgeconsole/journal",
        "/elsewhere/rel",
        "/work/report.pdf",
        "/srv/stolen.json",
        "/work/link",
        "/venv/lib/__pycache__/x.cpython-311.pyc.1234",
        "/dev/shm/sem.mp-1a2b",
    ]
    allowed = [
        Path("/home/u/.local/share/edgeconsole"),
        Path("/work/report.html"),
        Path("/work/report.pdf"),
    ]
    bad = [w.path for w in writes_outside(writes, allowed)]
    assert bad == [
        "/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid",
        "/elsewhere/rel",
        "/srv/stolen.json",
        "/work/link",
    ]
    assert "by pid 50 [/venv/bin/python -m edgeconsole validate]" in str(writes[2])


def test_temp_siblings_of_a_named_path_are_allowed_others_are_not() -> None:
    log = r"""1<p> openat(AT_FDCWD</w>, "/w/.pack.partial-1/a", O_WRONLY|O_CREAT, 0600) = 3</w/.pack.partial-1/a>
1<p> openat(AT_FDCWD</w>, "/w/.packet", O_WRONLY|O_CREAT, 0600) = 3</w/.packet>
1<p> openat(AT_FDCWD</w>, "/w/pack2", O_WRONLY|O_CREAT, 0600) = 3</w/pack2>
"""  # noqa: E501 (real strace lines)
    bad = writes_outside(file_writes(parse(log)), [Path("/w/pack")])
    assert [w.path for w in bad] == ["/w/.packet", "/w/pack2"]
