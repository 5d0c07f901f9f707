from edgeconsole.core.errors import (
    BundleError,
    ConfigError,
    EdgeConsoleError,
    InferenceOutputError,
    ModelError,
    SourceDisconnected,
    SourceError,
)


def test_one_line_message_has_subject_and_hint() -> None:
    err = SourceError("cannot open", subject="/tmp/x.avi", hint="check the path")
    assert str(err) == "/tmp/x.avi: cannot open (check the path)"
    assert "\n" not in str(err)


def test_tree_has_one_root() -> None:
    for cls in (ConfigError, SourceDisconnected, InferenceOutputError, BundleError):
        assert issubclass(cls, EdgeConsoleError)
    assert issubclass(InferenceOutputError, ModelError)
    assert issubclass(SourceDisconnected, SourceError)
