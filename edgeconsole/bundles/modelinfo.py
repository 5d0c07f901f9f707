"""What an ONNX model is: inputs/outputs, opset, operators, parameters, metadata.

Works on the protobuf alone (no external data loaded, no session), so it is safe
on any model that passed the bundle's ONNX checks and cheap on large ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from edgeconsole.bundles.onnx_check import all_tensors

_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
}


@dataclass(frozen=True)
class ModelInfo:
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    opsets: dict[str, int]
    ir_version: int
    producer: str
    operators: dict[str, int]
    parameters: int
    metadata: dict[str, str]
    quantized: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "opsets": self.opsets,
            "ir_version": self.ir_version,
            "producer": self.producer,
            "operators": self.operators,
            "parameters": self.parameters,
            "metadata_props": self.metadata,
            "quantized": self.quantized,
        }


def _value_info(v: onnx.ValueInfoProto) -> dict[str, Any]:
    tt = v.type.tensor_type
    dtype = (
        _DTYPES.get(int(tt.elem_type)) or str(onnx.TensorProto.DataType.Name(tt.elem_type)).lower()
    )
    shape = [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tt.shape.dim
    ]
    return {"name": v.name, "dtype": dtype, "shape": shape}


def _count_ops(graph: onnx.GraphProto, ops: Counter[str]) -> None:
    for node in graph.node:
        ops[
            node.op_type
            if not node.domain or node.domain == "ai.onnx"
            else f"{node.domain}.{node.op_type}"
        ] += 1
        for attr in node.attribute:
            if attr.HasField("g"):
                _count_ops(attr.g, ops)
            for g in attr.graphs:
                _count_ops(g, ops)


def _tensor_elems(t: onnx.TensorProto) -> int:
    return int(np.prod(t.dims)) if len(t.dims) else 1


def model_info(model: onnx.ModelProto) -> ModelInfo:
    init_names = {t.name for t in model.graph.initializer}
    ops: Counter[str] = Counter()
    _count_ops(model.graph, ops)
    params = sum(_tensor_elems(t) for t in all_tensors(model))
    quantized = any(
        op in ops
        for op in (
            "QuantizeLinear",
            "DequantizeLinear",
            "QLinearConv",
            "QLinearMatMul",
            "MatMulInteger",
            "ConvInteger",
            "DynamicQuantizeLinear",
        )
    )
    return ModelInfo(
        inputs=[_value_info(v) for v in model.graph.input if v.name not in init_names],
        outputs=[_value_info(v) for v in model.graph.output],
        opsets={(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        operators=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        parameters=params,
        metadata={p.key: p.value for p in model.metadata_props},
        quantized=quantized,
    )
