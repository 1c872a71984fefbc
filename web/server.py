"""The Flask application: the Segment and Experiments pages and the JSON API under ``/api/``.

Nothing a client sends is used as a file-system path: checkpoints, samples and runs are chosen by id from the
listed sets, and uploads are decoded inside a temporary folder made for the request and removed with it.
"""
import base64
import os
import tempfile
import threading

from flask import Flask, jsonify, render_template, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from dataset.io import read_image, read_mask
from pipeline import serve
from utils.errors import UserError
from utils.visualize import CLASS_COLORS, GT_COLOR, PRED_COLOR, mask_to_png, overlay

from .jobs import CHECKED, Busy, Runner, form_argv, form_defaults

MAX_UPLOAD_MB = 20
MAX_NAME = 120  # characters of a file name shown back


class Demo:
    """What the application keeps between requests: its folders, the model cache, the training runner."""

    def __init__(self, workdir, data_root, temp_root, cache_size):
        self.workdir = workdir
        self.data_root = data_root
        self.temp_root = temp_root
        self.models = serve.ModelCache(cache_size)
        self.runner = Runner(workdir)
        self.lock = threading.Lock()  # one inference at a time (the network's buffers are shared)
        self._samples = None

    def checkpoints(self):
        return serve.list_checkpoints(os.path.join(self.workdir, serve.CHECKPOINT_DIR))

    def samples(self):
        if self._samples is None:
            self._samples = serve.demo_samples(self.data_root)
        return self._samples

    def runs(self):
        return serve.list_runs(os.path.join(self.workdir, "result"), os.path.join(self.workdir, "test_performance"))


def create_app(workdir=None, data_root=None, max_upload_mb=MAX_UPLOAD_MB, temp_root=None, cache_size=4):
    """The web demo over the checkpoints, results and runs of ``workdir`` (default: the current folder, as
    run.py's outputs); bundled samples come from the demo set under ``data_root`` (default ``workdir/data``);
    uploads above ``max_upload_mb`` are refused; per-request folders go under ``temp_root`` (default: the
    system's)."""
    app = Flask(__name__)
    workdir = os.path.abspath(workdir or os.getcwd())
    demo = Demo(workdir, os.path.abspath(data_root or os.path.join(workdir, "data")), temp_root, cache_size)
    app.config.update(MAX_CONTENT_LENGTH=int(max_upload_mb * 2 ** 20), UPLOAD_MB=max_upload_mb)
    app.extensions["jmedseg"] = demo
    _error_handlers(app)
    _pages(app, demo)
    _api(app, demo)
    return app


# --------------------------------------------------------------------------------------------- errors
def _error(message, code):
    if request.path.startswith("/api/"):
        return jsonify(error=message, status=code), code
    return render_template("error.html", message=message, code=code), code


def _error_handlers(app):
    @app.errorhandler(UserError)
    def user_error(e):
        code = 404 if isinstance(e, serve.UnknownName) else 409 if isinstance(e, Busy) else 400
        return _error(str(e), code)

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code == 413:
            return _error(f"the upload is larger than the {app.config['UPLOAD_MB']:g} MB limit; send a smaller "
                          "file", 413)
        return _error(e.description or e.name, e.code)


# --------------------------------------------------------------------------------------------- pages
def _pages(app, demo):
    @app.get("/")
    def segment_page():
        return render_template("segment.html", checkpoints=[c.public() for c in demo.checkpoints().values()],
                               samples=list(demo.samples()), limit_mb=app.config["UPLOAD_MB"],
                               accepted=serve.ACCEPTED, colors=dict(gt=GT_COLOR, pred=PRED_COLOR,
                                                                    classes=CLASS_COLORS[:5]))

    @app.get("/experiments")
    def experiments_page():
        return render_template("experiments.html", runs=[_run_view(r) for r in demo.runs().values()],
                               defaults=form_defaults(), status=demo.runner.status())

    @app.get("/samples/<sample_id>.png")
    def sample_image(sample_id):
        sample = serve.pick(demo.samples(), sample_id, "sample")
        return send_file(sample.image, mimetype="image/png")

    @app.get("/runs/<path:run_id>/curves.png")
    def run_curves(run_id):
        run = serve.pick(demo.runs(), run_id, "run")
        if not run["curves"]:
            raise serve.UnknownName(f"run {run_id!r} has no training curves")
        return send_file(run["curves"], mimetype="image/png")

    @app.get("/runs/<path:run_id>/overlays/<int:index>.png")
    def run_overlay(run_id, index):
        run = serve.pick(demo.runs(), run_id, "run")
        if not 0 <= index < len(run["overlays"]):
            raise serve.UnknownName(f"run {run_id!r} has no overlay {index}")
        return send_file(run["overlays"][index], mimetype="image/png")


def _run_view(run):
    """A run for the page and the API: its paths replaced by URLs."""
    view = {k: v for k, v in run.items() if k not in ("curves", "overlays")}
    view["curves_url"] = url_for("run_curves", run_id=run["id"]) if run["curves"] else None
    view["overlay_urls"] = [url_for("run_overlay", run_id=run["id"], index=k) for k in range(len(run["overlays"]))]
    return view


# --------------------------------------------------------------------------------------------- API
def _api(app, demo):
    @app.get("/api/checkpoints")
    def api_checkpoints():
        return jsonify(checkpoints=[c.public() for c in demo.checkpoints().values()])

    @app.get("/api/samples")
    def api_samples():
        return jsonify(samples=[dict(id=k, image_url=url_for("sample_image", sample_id=k), has_mask=bool(s.mask))
                                for k, s in demo.samples().items()])

    @app.get("/api/runs")
    def api_runs():
        return jsonify(runs=[_run_view(r) for r in demo.runs().values()])

    @app.post("/api/segment")
    def api_segment():
        return jsonify(_segment(demo, request.form, request.files))

    @app.post("/api/train")
    def api_train():
        job = demo.runner.start(form_argv(request.form))
        return jsonify(job.status()), 202

    @app.get("/api/train")
    def api_train_status():
        return jsonify(demo.runner.status())

    @app.post("/api/train/stop")
    def api_train_stop():
        if demo.runner.job is not None:
            demo.runner.job.stop()
        return jsonify(demo.runner.status())


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _upload(files, field):
    """``(bytes, name shown)`` of an uploaded file field, or None when the field is absent or left empty."""
    f = files.get(field)
    if f is None or not f.filename:  # a form's file field left empty comes without a name
        return None
    name = f.filename
    if any(c in name for c in "/\\\0") or name in (".", ".."):
        raise serve.InputError(f"the {field} file name {name[:MAX_NAME]!r} contains a path; send the file alone, "
                               "under its own name")
    return f.read(), name[:MAX_NAME]


def _strength(form):
    text = (form.get("strength") or "1").strip()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise serve.InputError(f"the phone-photo strength must be a number in [0, 1], got {text[:40]!r}")
    return value


def _segment(demo, form, files):
    """The ``/api/segment`` answer: the input as segmented, and each chosen checkpoint's result."""
    ids = list(dict.fromkeys(i for i in form.getlist("checkpoint") if i))
    if not ids:
        raise serve.InputError("choose a checkpoint (one or two, by the ids of /api/checkpoints)")
    if len(ids) > 2:
        raise serve.InputError(f"choose at most two checkpoints, got {len(ids)}")
    table = demo.checkpoints()
    entries = [serve.pick(table, i, "checkpoint") for i in ids]
    image_file, mask_file = _upload(files, "image"), _upload(files, "mask")
    sample_id = (form.get("sample") or "").strip()
    if image_file and sample_id:
        raise serve.InputError("send an image or name a sample, not both")
    if not (image_file or sample_id):
        raise serve.InputError(f"upload an image ({serve.ACCEPTED}) or pick a sample")
    window = serve.parse_window(form.get("window_center"), form.get("window_width"))
    phone = (form.get("phone_photo") or "").lower() in CHECKED
    strength = _strength(form)

    with tempfile.TemporaryDirectory(prefix="jmedseg-request-", dir=demo.temp_root) as tmp:
        if image_file:
            name = image_file[1]
            image, fmt, window_used = serve.decode_image(image_file[0], tmp, name, window)
            mask = None
        else:
            sample = serve.pick(demo.samples(), sample_id, "sample")
            name, fmt, window_used = f"{sample_id} (demo sample)", "PNG", None
            image = read_image(sample.image)
            use_truth = (form.get("sample_truth") or "").lower() in CHECKED and not mask_file
            mask = read_mask(sample.mask) if use_truth and sample.mask else None
        if mask_file:
            mask = serve.decode_mask(mask_file[0], tmp, image.shape, mask_file[1])
    if phone:
        image, mask = serve.phone_photo(image, mask, strength)
    truths = [None if mask is None else serve.truth_labels(mask, e.n_classes) for e in entries]
    for entry in entries:
        serve.check_image_size(entry, *image.shape[:2])

    results = []
    for entry, truth in zip(entries, truths):
        with demo.lock:
            model = demo.models.get(entry)
            pred, ms = serve.segment(model, image, entry.img_size)
        n = entry.n_classes
        results.append(dict(
            checkpoint=entry.public(), ms=round(ms, 2), mask_format="0/255" if n == 2 else "class ids",
            foreground_pixels=int((pred > 0).sum()), mask_png=_b64(serve.png_bytes(mask_to_png(pred, n))),
            labels_png=_b64(serve.png_bytes(pred.astype("uint8"))),
            overlay_png=_b64(serve.png_bytes(overlay(image, pred, truth, n))),
            metrics=None if truth is None else serve.score(pred, truth, n)))
    return dict(input=dict(name=name, format=fmt, height=int(image.shape[0]), width=int(image.shape[1]),
                           window=window_used, phone_photo=phone, strength=strength if phone else None,
                           truth=mask is not None, png=_b64(serve.png_bytes(image))),
                results=results)
