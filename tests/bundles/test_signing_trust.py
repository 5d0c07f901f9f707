"""Keys, signatures and the trust store: real Ed25519 keys on a real file system."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edgeconsole.bundles.errors import TrustStoreError
from edgeconsole.bundles.signing import (
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    parse_signatures,
    sign_manifest,
    verify_one,
)
from edgeconsole.bundles.trust import TrustStore, import_key, list_keys, remove_key


def test_keygen_modes_and_no_overwrite(tmp_path: Path) -> None:
    kp = generate_keypair(tmp_path / "k")
    assert stat.S_IMODE(kp.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(kp.public_path.stat().st_mode) == 0o644
    assert key_id(load_public_key(kp.public_path)) == kp.key_id
    assert key_id(load_private_key(kp.private_path).public_key()) == kp.key_id
    with pytest.raises(TrustStoreError, match="already exists"):
        generate_keypair(tmp_path / "k")


def test_passphrase_protected_key(tmp_path: Path) -> None:
    kp = generate_keypair(tmp_path, "p", passphrase=b"correct horse")
    assert b"ENCRYPTED" in kp.private_path.read_bytes()
    with pytest.raises(TrustStoreError, match="passphrase"):
        load_private_key(kp.private_path)
    with pytest.raises(TrustStoreError, match="wrong passphrase"):
        load_private_key(kp.private_path, b"wrong")
    key = load_private_key(kp.private_path, b"correct horse")
    sig = sign_manifest(b"{}", [key])
    (entry,) = parse_signatures(sig, "t")
    assert verify_one(load_public_key(kp.public_path), entry.signature, b"{}")
    assert not verify_one(load_public_key(kp.public_path), entry.signature, b"{ }")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"x" * 20000,
    ],
)
def test_garbage_public_keys_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pub").write_bytes(content)
    with pytest.raises(TrustStoreError):
        TrustStore.load(tmp_path)


def test_rsa_key_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "rsa.pub").write_bytes(
        k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(TrustStoreError, match="not Ed25519"):
        TrustStore.load(tmp_path)


@pytest.mark.parametrize(
    "sig",
    [
        b"not json",
        b"{}",
        b'[{"key_id": 1, "signature": "x"}]',
        b'[{"key_id": "a", "signature": "%%%"}]',
        b'[{"key_id": "a", "signature": "", "extra": 1}]',
        b"[" + b",".join([b'{"key_id":"a","signature":""}'] * 17) + b"]",
    ],
)
def test_malformed_signature_documents(sig: bytes) -> None:
    from edgeconsole.bundles.errors import BundleSignatureError

    with pytest.raises(BundleSignatureError):
        parse_signatures(sig, "t")


def test_trust_store_import_list_remove_threshold(tmp_path: Path) -> None:
    a = generate_keypair(tmp_path / "a", "alice")
    b = generate_keypair(tmp_path / "b", "bob")
    store = tmp_path / "store"
    ka = import_key(store, a.public_path)
    import_key(store, b.public_path, label="bob-laptop")
    with pytest.raises(TrustStoreError, match="already trusted"):
        import_key(store, a.public_path, label="again")
    assert {k.label for k in list_keys(store)} == {"alice", "bob-laptop"}
    assert ka.fingerprint.count(":") == 15
    assert TrustStore.load(store).threshold == 1
    (store / "trust.json").write_text('{"threshold": 2}')
    assert TrustStore.load(store).threshold == 2
    (store / "trust.json").write_text('{"threshold": 3}')
    with pytest.raises(TrustStoreError, match="impossible"):
        TrustStore.load(store)
    (store / "trust.json").write_text('{"threshold": 1, "allow_all": true}')
    with pytest.raises(TrustStoreError, match="only 'threshold'"):
        TrustStore.load(store)
    (store / "trust.json").unlink()
    remove_key(store, "bob-laptop")
    remove_key(store, ka.key_id)
    with pytest.raises(TrustStoreError, match=r"no \.pub keys"):
        TrustStore.load(store)
    with pytest.raises(TrustStoreError, match="no trusted key"):
        remove_key(store, "nobody")
