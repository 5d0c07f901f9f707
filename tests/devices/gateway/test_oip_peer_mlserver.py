"""Peer check: the console's OIP client against a real third-party server, MLServer.

MLServer runs from its own venv (.venv-oip, made by ``./run setup``) with a small
custom runtime (tests/fixtures/oip_peer.py): the digits sample model through
onnxruntime, and a trivial sum model. Frames are the held-out digits images, read
and preprocessed on the laptop with the bundle's own preprocessing, inferred on the
server, and compared with onnxruntime run locally on the same tensors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.gateway.http import GatewayHTTPError
from edgeconsole.devices.gateway.oip import TO_OIP, OipClient
from edgeconsole.inference.preprocess import preprocess_image
from edgeconsole.inference.spec import ModelSpec, TensorSpec, load_model_spec
from tests.fixtures.oip_peer import (
    SKIP_ENV,
    MLServerPeer,
    PeerModel,
    peer_missing_reason,
    start_mlserver,
    write_repository,
)

REPO = Path(__file__).resolve().parents[3]
DIGITS = REPO / "sample_models" / "digits"
DATASET = REPO / "sample_models" / "datasets" / "digits"
PER_CLASS = 3  # 30 frames: every class, a few seconds of requests at most

# One server for the module, so every test here runs on the same xdist worker.
pytestmark = pytest.mark.xdist_group("oip_peer_mlserver")


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_model_spec(DIGITS)


def _tensor_meta(t: TensorSpec) -> dict[str, object]:
    """The model's tensor as MLServer's model-settings.json declares it (OIP metadata)."""
    return {"name": t.name, "datatype": TO_OIP[np.dtype(t.dtype)], "shape": list(t.shape)}


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory, spec: ModelSpec) -> Iterator[MLServerPeer]:
    why = peer_missing_reason()
    if why is not None:
        if os.environ.get("CI") and os.environ.get(SKIP_ENV) != "1":
            pytest.fail(f"CI must run the MLServer peer check: {why}")
        pytest.skip(why)
    models = [
        PeerModel(
            name=spec.name,
            implementation="OnnxModel",
            inputs=[_tensor_meta(t) for t in spec.inputs],
            outputs=[_tensor_meta(t) for t in spec.outputs],
            files={"model.onnx": spec.model_path},
            uri="./model.onnx",
        ),
        PeerModel(
            name="adder",
            implementation="SumModel",
            inputs=[
                {"name": "a", "datatype": "INT64", "shape": [-1, 3]},
                {"name": "b", "datatype": "INT64", "shape": [-1, 3]},
            ],
            outputs=[{"name": "sum", "datatype": "INT64", "shape": [-1, 3]}],
            files={},
        ),
    ]
    repo = write_repository(tmp_path_factory.mktemp("mlserver") / "models", models)
    server = start_mlserver(repo)
    try:
        yield server
    finally:
        server.stop()
        assert not server.alive()


@pytest.fixture
def client(peer: MLServerPeer) -> Iterator[OipClient]:
    c = OipClient(peer.url, timeout_s=10.0)
    try:
        yield c
    finally:
        c.close()


def _frames(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Held-out digit images as the laptop sends them: read, then the bundle's preprocessing."""
    tensors, labels = [], []
    for label in range(10):
        for path in sorted((DATASET / str(label)).glob("*.png"))[:PER_CLASS]:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            assert image is not None, path
            tensor, _ = preprocess_image(image, spec.preprocess)
            tensors.append(tensor)
            labels.append(label)
    return np.concatenate(tensors), np.array(labels)


def test_server_metadata_and_health(client: OipClient) -> None:
    meta = client.server_metadata()
    assert meta["name"] == "mlserver"
    assert meta["version"] == "1.7.1"  # pinned in tests/fixtures/oip_peer_requirements.txt
    assert client.is_live()
    assert client.is_ready()


def test_model_metadata_and_readiness(client: OipClient, spec: ModelSpec) -> None:
    meta = client.model_metadata(spec.name)
    assert meta["name"] == spec.name
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("input", "FP32", [-1, 64])
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == [
        ("probabilities", "FP32", [-1, 10])
    ]
    assert client.model_ready(spec.name)
    assert client.model_ready("adder")
    assert not client.model_ready("no-such-model")


def test_frames_inferred_on_mlserver_match_local_onnxruntime(
    client: OipClient, spec: ModelSpec
) -> None:
    x, labels = _frames(spec)
    assert x.shape == (10 * PER_CLASS, 64) and x.dtype == np.float32
    local = ort.InferenceSession(str(spec.model_path), providers=["CPUExecutionProvider"])
    out_name = spec.outputs[0].name
    # One request per frame, as a live view sends them.
    remote = []
    for row in x:
        frame = row[None]
        got = client.infer(spec.name, {"input": frame}, binary=False, outputs=[out_name])
        assert set(got) == {out_name}
        assert got[out_name].shape == (1, 10) and got[out_name].dtype == np.float32
        want = local.run([out_name], {"input": frame})[0]
        np.testing.assert_allclose(got[out_name], want, rtol=1e-5, atol=1e-6)
        remote.append(got[out_name])
    probs = np.concatenate(remote)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # softmax outputs
    # The bundle's preprocessing is what the model was trained for: the digits come out.
    assert (probs.argmax(axis=1) == labels).mean() >= 0.9
    # And the whole set as one batch (no ``outputs``: the server sends all of them).
    batch = client.infer(spec.name, {"input": x}, binary=False)
    np.testing.assert_allclose(batch[out_name], local.run([out_name], {"input": x})[0], atol=1e-6)


def test_integer_tensors_and_two_inputs(client: OipClient) -> None:
    a = np.arange(6, dtype=np.int64).reshape(2, 3) - 3
    b = np.array([[2**40, -1, 7], [0, 5, -(2**33)]], dtype=np.int64)
    got = client.infer("adder", {"a": a, "b": b}, binary=False)
    assert got["sum"].dtype == np.int64
    np.testing.assert_array_equal(got["sum"], a + b)


def test_missing_model_is_a_clear_error(client: OipClient, spec: ModelSpec) -> None:
    x, _ = _frames(spec)
    with pytest.raises(GatewayHTTPError, match="Model no-such-model not found") as e:
        client.infer("no-such-model", {"input": x[:1]}, binary=False)
    assert e.value.status == 404
    assert isinstance(e.value, EdgeConsoleError)
    with pytest.raises(GatewayHTTPError, match="not found") as e:
        client.model_metadata("no-such-model")
    assert e.value.status == 404
    assert client.is_ready()  # the server shrugs it off


def test_bad_input_shape_is_a_clear_error_and_the_client_goes_on(
    client: OipClient, spec: ModelSpec
) -> None:
    x, _ = _frames(spec)
    with pytest.raises(GatewayHTTPError, match=r"has shape \[1, 63\], expected \['N', 64\]") as e:
        client.infer(spec.name, {"input": x[:1, :63]}, binary=False)
    assert e.value.status == 400
    with pytest.raises(GatewayHTTPError, match="has no input 'pixels'") as e:
        client.infer(spec.name, {"pixels": x[:1]}, binary=False)
    assert e.value.status == 400
    # A wrong type gets past the runtime's shape check and fails inside onnxruntime:
    # MLServer answers a bare 500, which still arrives as the error tree, not a crash.
    with pytest.raises(GatewayHTTPError) as e:
        client.infer(spec.name, {"input": x[:1].astype(np.float64)}, binary=False)
    assert e.value.status == 500
    # The same kept-alive client still infers afterwards.
    assert client.infer(spec.name, {"input": x[:1]}, binary=False)["probabilities"].shape == (1, 10)


def test_binary_tensors_are_not_spoken_by_mlserver(client: OipClient, spec: ModelSpec) -> None:
    """MLServer's REST has no binary tensor extension and does not advertise one: by
    default the client asks and sends JSON; a forced binary request fails as an
    EdgeConsoleError naming the model, nothing decoded wrongly."""
    assert "binary_tensor_data" not in client.server_metadata()["extensions"]
    x, _ = _frames(spec)
    assert client.infer(spec.name, {"input": x[:1]})["probabilities"].shape == (1, 10)
    with pytest.raises(GatewayHTTPError, match=f"infer on model '{spec.name}' failed") as e:
        client.infer(spec.name, {"input": x[:1]}, binary=True)
    assert e.value.status >= 400
    assert client.infer(spec.name, {"input": x[:1]}, binary=False)["probabilities"].shape == (1, 10)


def test_repository_index_unload_load(client: OipClient, spec: ModelSpec) -> None:
    rows = {r["name"]: r["state"] for r in client.repository_index()}
    assert rows == {spec.name: "READY", "adder": "READY"}
    client.unload("adder")
    try:
        assert not client.model_ready("adder")
        with pytest.raises(GatewayHTTPError) as e:
            client.infer(
                "adder",
                {"a": np.zeros((1, 3), np.int64), "b": np.zeros((1, 3), np.int64)},
                binary=False,
            )
        assert e.value.status in (400, 404)
    finally:
        client.load("adder")
    assert client.model_ready("adder")


def test_remote_runner_infers_live_frames_on_mlserver(client: OipClient, spec: ModelSpec) -> None:
    """What the window does for "Infer the live source here" on a third-party server:
    the laptop preprocesses and decodes, MLServer infers (JSON tensors: it has no
    binary extension, so the client must not send binary)."""
    from edgeconsole.core.clock import now_ns
    from edgeconsole.core.frames import Frame
    from edgeconsole.session.gateway_stream import RemoteOipRunner

    assert client.aio._binary is None or client.aio._binary is False
    runner = RemoteOipRunner(spec, client, spec.name)
    runner.check()
    correct = 0
    for label in range(10):
        path = sorted((DATASET / str(label)).glob("*.png"))[0]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        result = runner.process(
            Frame(index=label, image=image, captured_ns=now_ns(), source="dataset")
        )
        assert result.classification is not None
        correct += result.classification.label == str(label)
    assert correct >= 8
