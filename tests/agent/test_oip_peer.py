"""Peer check: the official ``tritonclient.http`` against the agent, over real HTTP."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.fixtures.gateway import DIGITS, RunningAgent


@pytest.fixture
def triton(gateway_agent: RunningAgent) -> httpclient.InferenceServerClient:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{gateway_agent.port}")
    yield client
    client.close()


def test_server_metadata_and_health(
    triton: httpclient.InferenceServerClient, gateway_agent: RunningAgent
) -> None:
    hd = gateway_agent.headers  # tritonclient mutates the dict it is given
    meta = triton.get_server_metadata(headers=hd())
    assert meta["name"] == "edgeconsole-agent"
    assert "model_repository" in meta["extensions"]
    assert "binary_tensor_data" in meta["extensions"]
    assert triton.is_server_live()  # liveness needs no token
    assert triton.is_server_ready(headers=hd())


def test_repository_index_load_metadata_infer_unload(
    triton: httpclient.InferenceServerClient, gateway_agent: RunningAgent
) -> None:
    hd = gateway_agent.headers  # tritonclient mutates the dict it is given
    index = triton.get_model_repository_index(headers=hd())
    assert {"name": "digits", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"} in index
    assert not triton.is_model_ready("digits", headers=hd())

    triton.load_model("digits", headers=hd())
    assert triton.is_model_ready("digits", headers=hd())
    index = {row["name"]: row for row in triton.get_model_repository_index(headers=hd())}
    assert index["digits"]["state"] == "READY"

    meta = triton.get_model_metadata("digits", headers=hd())
    assert meta["name"] == "digits"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"][0]["name"] == "probabilities"

    x = np.load(DIGITS / "golden_input.npy").astype(np.float32)
    expected = np.load(DIGITS / "golden_output.npy")
    for binary in (True, False):
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
        result = triton.infer("digits", [inp], outputs=[out], headers=hd())
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-5)
    # No outputs named: tritonclient asks for all of them in binary.
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = triton.infer("digits", [inp], headers=hd())
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-5)

    triton.unload_model("digits", headers=hd())
    assert not triton.is_model_ready("digits", headers=hd())
    with pytest.raises(InferenceServerException, match="not loaded"):
        triton.infer("digits", [inp], headers=hd())


def test_without_token_everything_but_liveness_is_401(
    triton: httpclient.InferenceServerClient,
) -> None:
    assert triton.is_server_live()
    with pytest.raises(InferenceServerException, match="token"):
        triton.get_server_metadata()
    with pytest.raises(InferenceServerException, match="token"):
        triton.load_model("digits", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    # nothing changed
    assert not triton.is_model_ready("digits", headers={"Authorization": "Bearer nope"})


def test_bad_infer_requests_are_400_with_a_message(
    triton: httpclient.InferenceServerClient, gateway_agent: RunningAgent
) -> None:
    hd = gateway_agent.headers  # tritonclient mutates the dict it is given
    triton.load_model("digits", headers=hd())
    wrong = np.zeros((1, 63), np.float32)
    inp = httpclient.InferInput("input", [1, 63], "FP32")
    inp.set_data_from_numpy(wrong)
    with pytest.raises(InferenceServerException) as exc:
        triton.infer("digits", [inp], headers=hd())
    assert "64" in str(exc.value)
    with pytest.raises(InferenceServerException, match="unknown model"):
        triton.get_model_metadata("nope", headers=hd())
