"""The gateway agent: a headless aiohttp service speaking the Open Inference
Protocol v2 (REST) plus EdgeConsole's additions under ``/v2/edgeconsole/``.

The agent sits beside ``bundles``, ``inference`` and ``sources`` in the layer
contract, so it imports none of them: the bundle verifier, the model loader, the
health check and the frame-source opener arrive as :class:`AgentPorts`, composed
by ``edgeconsole.session.agent_ports`` (the session may import every sibling).
"""

from __future__ import annotations

from edgeconsole.agent.ports import AgentPorts, ManifestView, ModelHandle, TensorInfo

__all__ = ["AgentPorts", "ManifestView", "ModelHandle", "TensorInfo"]
