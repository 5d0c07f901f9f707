"""The agent's upload checker (a push parser over tar headers) on mutations of a
real signed bundle, fed in arbitrary pieces: it consumes every byte or refuses with
a BundleError, never anything else, and never spins (issue 13: a negative tar size
once looped it forever). A spin fails the example by its deadline (long mode) or the
test by its timeout."""

from __future__ import annotations

import hashlib
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from edgeconsole.agent.tarcheck import StreamChecker
from edgeconsole.core.errors import BundleError
from edgeconsole.session.agent_ports import verify_manifest
from tests.fuzz._bundle import REPO, bundle_bytes
from tests.fuzz._settings import count, fuzz
from tests.fuzz.test_tar_reader import _mutate

_VERIFY = partial(
    verify_manifest, trust_dir=str(REPO / "sample_models" / "trust"), hardware_id="gateway-x86_64"
)


@fuzz(quick=60)
@given(st.data())
def test_mutated_uploads_are_checked_or_refused_and_never_spin(data: st.DataObject) -> None:
    count("agent upload checker: mutated real bundle in pieces")
    blob = _mutate(bundle_bytes(), data)
    piece = data.draw(st.sampled_from([1, 7, 511, 512, 513, 4096, 1 << 16]))
    checker = StreamChecker(_VERIFY, subject="fuzz")
    fed = 0
    try:
        for i in range(0, len(blob), piece):
            checker.feed(blob[i : i + piece])
            fed = i + len(blob[i : i + piece])
    except BundleError as exc:
        assert str(exc)
        assert checker.offset <= len(blob)
        return
    assert checker.offset == fed == len(blob)
    if checker.complete:
        # Accepted whole: it hashed exactly what it took.
        assert checker.hexdigest() == hashlib.sha256(blob).hexdigest()
