"""The environment of a technician's laptop, for tests that watch onnxruntime's telemetry.

onnxruntime switches its own telemetry off when it believes it runs on a build
server: ``CI`` or one of the CI services' variables below in its environment
(measured on 1.29: ``CI=true`` alone stops it writing its device id). Our CI sets
``CI``, so a test that inherited that environment would see a silent process
whether EdgeConsole silenced it or not, and a control that expects telemetry
would see none. Every offline test therefore starts its child processes without
those variables and without ``ORT_DISABLE_TELEMETRY``: what the laptop sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Variables onnxruntime reads to decide it runs under CI (strings in its native
#: module beside the telemetry code), and ``CI`` itself.
CI_MARKERS = (
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
)
ORT_TELEMETRY_VAR = "ORT_DISABLE_TELEMETRY"


def laptop_env(
    base: Mapping[str, str] | None = None, *, drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """``base`` (default: this process's environment) as a laptop would have it."""
    gone = {*CI_MARKERS, ORT_TELEMETRY_VAR, *drop}
    return {k: v for k, v in (os.environ if base is None else base).items() if k not in gone}
