"""app.py: what `flask run` imports, and its own command line (127.0.0.1 unless --host says otherwise)."""
import importlib

from flask import Flask


def test_flask_app_and_defaults(monkeypatch, workdir, demo_root):
    monkeypatch.setenv("JMEDSEG_WORKDIR", workdir)
    monkeypatch.setenv("JMEDSEG_DATA_ROOT", demo_root)
    app_module = importlib.import_module("app")
    assert isinstance(app_module.app, Flask)
    assert app_module.app.config["MAX_CONTENT_LENGTH"] == 20 * 2 ** 20
    assert app_module.app.extensions["jmedseg"].workdir == workdir
    served = {}
    monkeypatch.setattr(Flask, "run", lambda self, **kw: served.update(kw))
    assert app_module.main(["--port", "5123", "--workdir", workdir]) == 0
    assert served == dict(host="127.0.0.1", port=5123, threaded=True)
