"""The distillation methods: each a loss between the student's and the frozen teacher's outputs.

Every method is a :class:`Method` (a Jittor module: the connectors some methods train live in it) registered
by its ``--kd`` name. ``method(student_logits, teacher_logits, student_features, teacher_features, labels)``
returns ``weight * loss``; logits are ``N x C x H x W``, features ``{layer: N x C x H x W}`` as the feature
taps read them, labels ``N x H x W`` class ids. The losses themselves are plain functions (``kd_loss``,
``at_loss``, ...), tested against NumPy. Reductions: a per-pixel divergence is averaged over the ``N H W``
pixels; a per-channel one over the ``N C`` channels.

Defaults (``--kd-weight``, ``--kd-tau`` change them):

====== ======== ===== ===========================================================================
method  weight    tau  reads
====== ======== ===== ===========================================================================
kd          1      1   class maps
at       1000      —   encoder-stage features (p = 2)
dkd         1      1   class maps and labels (alpha 1, beta 8)
dist        1      1   class maps (inter 1, intra 1)
cwd         5      1   class maps, or features through connectors when --kd-layers is given
reviewkd    1      —   encoder-stage features through ABF fusion
====== ======== ===== ===========================================================================
"""
import jittor as jt
from jittor import nn

from model.pspnet import adaptive_avg_pool2d
from utils.errors import ConfigError
from utils.registry import first_doc_line

from .connectors import ABF, Connector, resize_to
from .registry import register_distiller

__all__ = ["Method", "KD", "AT", "DKD", "DIST", "CWD", "ReviewKD", "kd_loss", "attention_map", "at_loss",
           "dkd_loss", "dist_loss", "cwd_loss", "hcl_loss", "pearson"]


# --------------------------------------------------------------------------------------------------- losses
def _kl(log_p_teacher, log_p_student, dim=1):
    """``sum_dim p_t (log p_t - log p_s)`` from log-probabilities (0 where p_t underflows to 0)."""
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim)


def kd_loss(student, teacher, tau):
    """``tau^2 * mean over pixels of KL(softmax(t / tau) || softmax(s / tau))`` over the classes."""
    kl = _kl(nn.log_softmax(teacher / tau, dim=1), nn.log_softmax(student / tau, dim=1))
    return kl.mean() * tau ** 2


def attention_map(feature, size=None, p=2):
    """``mean_c |F_c|^p`` (N x H x W), resized (bilinear) to ``size`` when given, flattened and L2-normalised
    per sample: N x (H W)."""
    a = feature.abs().pow(p).mean(1, keepdims=True)
    if size is not None:
        a = resize_to(a, size)
    a = a.reshape(a.shape[0], -1)
    return a / jt.maximum(a.sqr().sum(1, keepdims=True).sqrt(), 1e-12)


def at_loss(student_feature, teacher_feature, p=2):
    """Mean over samples and positions of the squared difference of the two attention maps, the student's
    resized to the teacher's size (channel counts may differ)."""
    t = attention_map(teacher_feature, p=p)
    s = attention_map(student_feature, size=teacher_feature.shape[2:], p=p)
    return (s - t).sqr().mean()


def _one_hot(labels, n_classes):
    classes = jt.arange(n_classes).reshape(1, n_classes, 1, 1)
    return (labels.unsqueeze(1).int32() == classes.int32()).float32()


def dkd_loss(student, teacher, labels, alpha=1.0, beta=8.0, tau=1.0):
    """``tau^2 (alpha TCKD + beta NCKD)`` per pixel, averaged over pixels.

    TCKD: KL between the binary distributions [p_target, 1 - p_target] of teacher and student; NCKD: KL between
    their distributions over the non-target classes alone (softmax with the target left out). Both at ``tau``.
    """
    gt = _one_hot(labels, student.shape[1])
    p_s, p_t = nn.softmax(student / tau, dim=1), nn.softmax(teacher / tau, dim=1)
    eps = 1e-12
    b_s = jt.concat([(p_s * gt).sum(1, keepdims=True), (p_s * (1 - gt)).sum(1, keepdims=True)], dim=1)
    b_t = jt.concat([(p_t * gt).sum(1, keepdims=True), (p_t * (1 - gt)).sum(1, keepdims=True)], dim=1)
    tckd = _kl(jt.maximum(b_t, eps).log(), jt.maximum(b_s, eps).log())
    # the target's logit pushed far down: a softmax over the other classes alone
    nckd = _kl(nn.log_softmax(teacher / tau - 1000.0 * gt, dim=1), nn.log_softmax(student / tau - 1000.0 * gt, dim=1))
    return (alpha * tckd + beta * nckd).mean() * tau ** 2


def pearson(a, b, eps=1e-8):
    """Pearson correlation of the rows of ``a`` and ``b`` (R x K each): R values."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / (a.sqr().sum(1).sqrt() * b.sqr().sum(1).sqrt() + eps)


def dist_loss(student, teacher, inter=1.0, intra=1.0, tau=1.0):
    """``tau^2 (inter (1 - mean_pixels rho(y_s, y_t)) + intra (1 - mean_classes rho(y_s, y_t)))`` with
    ``y = softmax(logits / tau)`` over the classes; every pixel of the batch is one instance (rows of a
    (N H W) x C matrix): the inter-class relation correlates each pixel's class scores, the intra-class one
    each class's scores over all pixels."""
    c = student.shape[1]
    y_s = nn.softmax(student / tau, dim=1).transpose(0, 2, 3, 1).reshape(-1, c)
    y_t = nn.softmax(teacher / tau, dim=1).transpose(0, 2, 3, 1).reshape(-1, c)
    inter_term = 1 - pearson(y_s, y_t).mean()
    intra_term = 1 - pearson(y_s.transpose(1, 0), y_t.transpose(1, 0)).mean()
    return (inter * inter_term + intra * intra_term) * tau ** 2


def cwd_loss(student, teacher, tau=1.0):
    """``tau^2 * mean over (sample, channel) of KL(softmax_HW(t_c / tau) || softmax_HW(s_c / tau))``: each
    channel's map is a distribution over the H W positions."""
    n, c = student.shape[:2]
    s = nn.log_softmax(student.reshape(n * c, -1) / tau, dim=1)
    t = nn.log_softmax(teacher.reshape(n * c, -1) / tau, dim=1)
    return _kl(t, s).mean() * tau ** 2


HCL_BINS = (4, 2, 1)


def hcl_loss(students, teachers):
    """ReviewKD's hierarchical context loss, summed over levels: at each level the mean squared error of the
    maps, plus that of their average-pooled 4 x 4, 2 x 2 and 1 x 1 versions (bins smaller than the map only)
    weighted 1/2, 1/4, 1/8, divided by the sum of the weights used."""
    total = 0.0
    for fs, ft in zip(students, teachers):
        loss, weight, weights = (fs - ft).sqr().mean(), 1.0, 1.0
        for bins in HCL_BINS:
            if bins >= fs.shape[2]:
                continue
            weight /= 2.0
            loss = loss + weight * (adaptive_avg_pool2d(fs, bins) - adaptive_avg_pool2d(ft, bins)).sqr().mean()
            weights += weight
        total = total + loss / weights
    return total


# --------------------------------------------------------------------------------------------------- methods
class Method(nn.Module):
    """A distillation term: ``weight * loss`` (subclasses define :meth:`loss`).

    Class attributes: ``default_weight``; ``default_tau`` (None: the method has no temperature);
    ``features``: "none" (class maps only), "optional" (features when ``--kd-layers`` is given) or "stages"
    (encoder-stage features, default pairs from :func:`advance.distill.taps.encoder_stages`). Every loss gets the
    labels; DKD reads them.

    ``pairs``: ``[(student layer, teacher layer), ...]`` shallow to deep; ``channels``: their
    ``[(student channels, teacher channels), ...]`` (to size connectors).
    """

    registered_name = None  # set by @register_distiller
    default_weight = 1.0
    default_tau = None
    features = "none"

    def __init__(self, weight=None, tau=None, pairs=(), channels=()):
        super().__init__()
        self.weight = float(self.default_weight if weight is None else weight)
        if tau is not None and self.default_tau is None:
            raise ConfigError(f"--kd-tau: {self.name} has no temperature")
        self.tau = None if self.default_tau is None else float(self.default_tau if tau is None else tau)
        self.pairs = [tuple(p) for p in pairs]
        if self.features == "stages" and not self.pairs:
            raise ConfigError(f"{self.name} distils features: it needs layer pairs (--kd-layers student:teacher)")

    @property
    def name(self):
        return type(self).registered_name

    @classmethod
    def describe(cls):
        tau = f", tau {cls.default_tau:g}" if cls.default_tau is not None else ""
        return f"{first_doc_line(cls)} [weight {cls.default_weight:g}{tau}]"

    def execute(self, student_logits, teacher_logits, student_features, teacher_features, labels):
        return self.weight * self.loss(student_logits, teacher_logits, student_features, teacher_features, labels)

    def loss(self, student_logits, teacher_logits, student_features, teacher_features, labels):
        raise NotImplementedError

    def settings(self):
        """What decides this term (recorded in the run's configuration)."""
        out = {"weight": self.weight, "layers": [f"{s}:{t}" for s, t in self.pairs]}
        if self.tau is not None:
            out["tau"] = self.tau
        return out


@register_distiller("kd")
class KD(Method):
    """KD (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network"): pixel-wise KL.

    ``L = tau^2 * mean_pixels KL(softmax(z_t / tau) || softmax(z_s / tau))`` over the classes of each pixel; the
    tau^2 factor keeps the gradient's scale independent of the temperature.

    Default tau 1, not the 4 of classification: with 4, a UNeXt student of a UNet teacher on covid_ct_infection
    (mostly background pixels) went to all background (test fg Dice 0.009 against 0.624 with tau 1;
    BENCHMARKS.md, "Knowledge distillation").
    """

    default_tau = 1.0

    def loss(self, s, t, fs, ft, labels):
        return kd_loss(s, t, self.tau)


@register_distiller("at")
class AT(Method):
    """AT (Zagoruyko & Komodakis 2017, "Paying More Attention to Attention"): attention-map matching.

    At each layer pair, ``Q = vec(mean_c |F_c|^p)`` with p = 2 is L2-normalised per sample (the student's map
    resized to the teacher's size first) and ``L = beta / 2 * sum_pairs mean((Q_s - Q_t)^2)`` (the paper's
    released code: the squared difference, averaged; beta = 1000 is the default weight). Channel counts may
    differ, so no connector is needed.
    """

    default_weight = 1000.0
    features = "stages"
    p = 2

    def loss(self, s, t, fs, ft, labels):
        return 0.5 * sum(at_loss(fs[a], ft[b], self.p) for a, b in self.pairs)


@register_distiller("dkd")
class DKD(Method):
    """DKD (Zhao et al. 2022, "Decoupled Knowledge Distillation"): target and non-target KD, weighted apart.

    Per pixel with ground-truth class g: ``TCKD = KL(b_t || b_s)`` with ``b = [p_g, 1 - p_g]`` and ``NCKD = KL(
    p~_t || p~_s)`` with ``p~`` the softmax over the classes other than g, both at temperature tau;
    ``L = tau^2 * mean_pixels (alpha TCKD + beta NCKD)``, alpha 1, beta 8. With two classes there is one
    non-target class, NCKD is 0 and DKD is alpha times KD. Default tau 1, as KD's (see there).
    """

    default_tau = 1.0

    def __init__(self, weight=None, tau=None, pairs=(), channels=(), alpha=1.0, beta=8.0):
        super().__init__(weight, tau, pairs, channels)
        self.alpha, self.beta = float(alpha), float(beta)

    def loss(self, s, t, fs, ft, labels):
        return dkd_loss(s, t, labels, self.alpha, self.beta, self.tau)

    def settings(self):
        return dict(super().settings(), alpha=self.alpha, beta=self.beta)


@register_distiller("dist")
class DIST(Method):
    """DIST (Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher"): Pearson-correlation relations.

    With ``Y = softmax(Z / tau)`` and each pixel an instance: ``L = tau^2 (beta (1 - mean_pixels rho(Y_s[i,:],
    Y_t[i,:])) + gamma (1 - mean_classes rho(Y_s[:,j], Y_t[:,j])))``, rho the Pearson correlation, beta = gamma
    = 1. Matching relations rather than values lets the student keep its own scale. With two classes a pixel's
    two scores are always perfectly (anti-)correlated, so only the intra-class term teaches.
    """

    default_tau = 1.0

    def __init__(self, weight=None, tau=None, pairs=(), channels=(), inter=1.0, intra=1.0):
        super().__init__(weight, tau, pairs, channels)
        self.inter, self.intra = float(inter), float(intra)

    def loss(self, s, t, fs, ft, labels):
        return dist_loss(s, t, self.inter, self.intra, self.tau)

    def settings(self):
        return dict(super().settings(), inter=self.inter, intra=self.intra)


@register_distiller("cwd")
class CWD(Method):
    """CWD (Shu et al. 2021, "Channel-wise Knowledge Distillation for Dense Prediction"): per-channel KL.

    Each channel's map becomes a distribution over the H W positions, ``phi(y_c) = softmax(y_c / tau)``, and
    ``L = tau^2 / (N C) * sum_{n,c} KL(phi(y_t,c) || phi(y_s,c))``. On the class maps by default (tau 1, weight 5:
    the authors' released logit setting); with ``--kd-layers`` on feature pairs, the student's map brought to
    the teacher's channels and size by a connector (1 x 1 conv + BN, bilinear resize).
    """

    default_weight = 5.0
    default_tau = 1.0
    features = "optional"

    def __init__(self, weight=None, tau=None, pairs=(), channels=()):
        super().__init__(weight, tau, pairs, channels)
        self.connectors = nn.ModuleList([Connector(cs, ct) for cs, ct in channels])

    def loss(self, s, t, fs, ft, labels):
        if not self.pairs:
            return cwd_loss(s, t, self.tau)
        return sum(cwd_loss(conn(fs[a], ft[b].shape[2:]), ft[b], self.tau)
                   for conn, (a, b) in zip(self.connectors, self.pairs)) / len(self.pairs)


@register_distiller("reviewkd")
class ReviewKD(Method):
    """ReviewKD (Chen et al. 2021, "Distilling Knowledge via Knowledge Review"): ABF fusion + HCL.

    The student's levels (shallow to deep) are fused from the deepest up: each level's map and the fused
    deeper ones are combined by attention-based fusion (:class:`~advance.distill.connectors.ABF`, 64 middle
    channels) and brought to the teacher level's channels and size; the hierarchical context loss
    (:func:`hcl_loss`: MSE of the maps and of their 4/2/1-bin pooled versions) compares each fused map with
    the teacher's map of that level, summed over levels.
    """

    features = "stages"
    mid_channels = 64

    def __init__(self, weight=None, tau=None, pairs=(), channels=()):
        super().__init__(weight, tau, pairs, channels)
        last = len(channels) - 1
        self.fusions = nn.ModuleList([ABF(cs, self.mid_channels, ct, fuse=i < last)
                                      for i, (cs, ct) in enumerate(channels)])

    def loss(self, s, t, fs, ft, labels):
        outputs, residual = [None] * len(self.pairs), None
        for i in reversed(range(len(self.pairs))):
            a, b = self.pairs[i]
            outputs[i], residual = self.fusions[i](fs[a], residual, ft[b].shape[2:])
        return hcl_loss(outputs, [ft[b] for _, b in self.pairs])
