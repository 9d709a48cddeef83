"""The demo's report as one HTML page: summary, six charts and the riskiest rings, in Chinese and English.

Everything is inline (style, script, SVG), so the file opens from the file system with no
network. The page starts in the browser's language (Chinese when it prefers Chinese) and
a switch in the header changes it; every text is written in both languages, and the
style shows one (``html[data-lang]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from tianwang.report import svg
from tianwang.report.figures import Figures
from tianwang.report.rings import RingDrawing

__all__ = ["FIGURES", "ReportData", "render_report", "write_report"]

Text = tuple[str, str]
P50, P99 = "#2ca02c", "#8b0000"  # the latency markers
FIGURES = ("roc", "pr", "scores", "typologies", "contributions", "latency")

_STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;color:#222;
background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:14px 24px;display:flex;align-items:center;gap:16px}
header h1{font-size:20px;margin:0;flex:1}
header button{background:#33475b;color:#fff;border:1px solid #6b7f93;padding:4px 10px;cursor:pointer}
header button[aria-pressed=true]{background:#fff;color:#1d2b3a}
main{padding:16px 24px;max-width:1400px;margin:auto}
section{margin-bottom:24px}
h2{font-size:17px;border-bottom:1px solid #ccd;padding-bottom:4px}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #dde;padding:4px 10px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #dde;padding:8px}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#444;margin-top:6px}
.rings{grid-template-columns:repeat(auto-fill,minmax(380px,1fr))}
.note{font-size:13px;color:#555}
html[data-lang=en] .zh,html[data-lang=zh] .en{display:none}
"""

_SCRIPT = """
(function () {
  var root = document.documentElement, KEY = "tianwang-report-lang";
  function set(lang) {
    root.setAttribute("data-lang", lang);
    root.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("button[data-set-lang]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-set-lang") === lang));
    });
    try { localStorage.setItem(KEY, lang); } catch (e) { /* a file page may have no storage */ }
  }
  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { saved = null; }
  var preferred = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  set(saved || (preferred.toLowerCase().indexOf("zh") === 0 ? "zh" : "en"));
  document.querySelectorAll("button[data-set-lang]").forEach(function (b) {
    b.addEventListener("click", function () { set(b.getAttribute("data-set-lang")); });
  });
})();
"""

_T: dict[str, Text] = {
    "title": ("Tianwang demo report", "天网演示报告"),
    "summary": ("Summary", "概要"),
    "figures": ("How well it scores", "评分效果"),
    "rings": ("The three riskiest rings", "风险最高的三个团伙"),
    "applications": ("applications generated", "生成的申请"),
    "replayed": ("replayed in time order (the earliest)", "按时间顺序回放（最早的）"),
    "trained": ("trained on (earliest, labelled)", "训练样本（最早的、有标签）"),
    "scored": ("scored as if online (later period)", "按时间顺序在线评分（后期）"),
    "fraud_legit": ("of them fraud / legitimate", "其中欺诈 / 正常"),
    "bands": ("decisions: approve / review / reject", "决策：通过 / 人工审核 / 拒绝"),
    "auroc": ("AUROC", "AUROC（ROC 曲线下面积）"),
    "auprc": ("AUPRC", "AUPRC（PR 曲线下面积）"),
    "latency": ("latency per application p50 / p99 (ms)", "每笔申请延迟 p50 / p99（毫秒）"),
    "ring_count": ("rings found", "发现的团伙"),
    "no_rings": ("No ring found.", "未发现团伙。"),
    "roc": ("ROC curve", "ROC 曲线"),
    "pr": ("Precision-recall curve", "精确率-召回率曲线"),
    "scores": ("Fraud score by outcome", "欺诈分数分布"),
    "typologies": ("Recall per typology", "各欺诈类型的召回率"),
    "contributions": ("Detector contributions", "检测器贡献"),
    "latency_title": ("Latency per application", "每笔申请的延迟"),
    "fpr": ("false positive rate", "误报率"),
    "tpr": ("true positive rate (recall)", "真正率（召回率）"),
    "recall": ("recall", "召回率"),
    "precision": ("precision", "精确率"),
    "fraud_score": ("fraud score (0-1000)", "欺诈分数（0-1000）"),
    "share": ("share of the class", "占该类比例"),
    "fraud": ("fraud", "欺诈"),
    "legit": ("legitimate", "正常"),
    "flagged": ("share sent to review or reject", "进入人工审核或拒绝的比例"),
    "log_odds": ("mean contribution to the fused log-odds", "对融合对数几率的平均贡献"),
    "ms": ("milliseconds", "毫秒"),
    "count": ("applications", "申请数"),
}

_CAPTIONS: dict[str, Text] = {
    "roc": ("Each point is a threshold on the fraud score; the dashed line is chance.",
            "每个点是欺诈分数的一个阈值；虚线为随机水平。"),
    "pr": ("Of the applications above each threshold, the share that are fraud, against the share of fraud found.",
           "各阈值以上的申请中欺诈的比例，对应已发现欺诈的比例。"),
    "scores": ("Fraud scores of the scored period, each class as shares of itself.",
               "评分期内欺诈与正常申请的分数分布（各自占比）。"),
    "typologies": ("Share of each kind of planted fraud sent to review or reject; n is how many there were.",
                   "各类植入欺诈进入人工审核或拒绝的比例；n 为数量。"),
    "contributions": ("What each detector added to the fused log-odds, on average, for fraud and legitimate "
                      "applications.", "各检测器对融合对数几率的平均贡献（欺诈与正常申请分别计算）。"),
    "latency": ("Time to score one application in process (upsert, detectors, vote, record); the last bar holds "
                "the tail.", "进程内为一笔申请评分所用时间（写入、检测、投票、记录）；最后一栏包含长尾。"),
}

_KINDS: dict[str, Text] = {
    "Person": ("person", "申请人"), "Phone": ("phone", "电话"), "BankAccount": ("account", "银行账户"),
    "Device": ("device", "设备"), "Address": ("address", "地址"), "Employer": ("employer", "工作单位"),
    "Dealer": ("dealer", "经销商"), "Vehicle": ("vehicle", "车辆"), "InflatedDeal": ("inflated deal", "虚高交易"),
    "Landline": ("landline", "固定电话"),
}


@dataclass
class ReportData:
    """What the report shows besides the figures: the run's counts and the rings."""

    applications: int
    trained: int
    figures: Figures
    replayed: int = 0
    rings: list[RingDrawing] = field(default_factory=list)
    ring_count: int = 0
    seed: int | None = None
    generated_at: str = ""


def _bi(text: Text, tag: str = "span") -> str:
    en, zh = (escape(t) for t in text)
    return f'<{tag} class="en">{en}</{tag}><{tag} class="zh">{zh}</{tag}>'


def _same(text: str) -> Text:
    return text, text


def _num(x: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def _summary(data: ReportData) -> str:
    f, b = data.figures, data.figures.bands
    rows = [
        ("applications", f"{data.applications:,}"),
        ("replayed", f"{data.replayed:,}"),
        ("trained", f"{data.trained:,}"),
        ("scored", f"{f.n_scored:,}"),
        ("fraud_legit", f"{f.n_fraud:,} / {f.n_legit:,}"),
        ("bands", f"{b.get('approve', 0):,} / {b.get('review', 0):,} / {b.get('reject', 0):,}"),
        ("auroc", _num(f.auroc)),
        ("auprc", _num(f.auprc)),
        ("latency", f"{_num(f.latency_p50, 2)} / {_num(f.latency_p99, 2)}"),
        ("ring_count", f"{data.ring_count:,}"),
    ]
    body = "".join(f'<tr><th>{_bi(_T[key])}</th><td class="n">{escape(value)}</td></tr>' for key, value in rows)
    return f'<table id="summary">{body}</table>'


def _charts(f: Figures) -> dict[str, str]:
    fraud, legit = _T["fraud"], _T["legit"]
    typologies = list(f.typology_recall)
    names = list(f.contributions)
    return {
        "roc": svg.curve_chart("roc", _T["roc"], _T["fpr"], _T["tpr"],
                               [svg.Series((f"AUROC {_num(f.auroc)}", f"AUROC {_num(f.auroc)}"), svg.FRAUD,
                                           f.roc.y, f.roc.x)], diagonal=True),
        "pr": svg.curve_chart("pr", _T["pr"], _T["recall"], _T["precision"],
                              [svg.Series((f"AUPRC {_num(f.auprc)}", f"AUPRC {_num(f.auprc)}"), svg.FRAUD,
                                          f.pr.y, f.pr.x)]),
        "scores": svg.histogram_chart("scores", _T["scores"], _T["fraud_score"], _T["share"], f.scores_fraud.edges,
                                      [svg.Series(legit, svg.LEGIT, f.scores_legit.shares()),
                                       svg.Series(fraud, svg.FRAUD, f.scores_fraud.shares())]),
        "typologies": svg.bar_chart("typologies", _T["typologies"], _T["flagged"],
                                    [f"{t} (n={f.typology_recall[t][1]})" for t in typologies],
                                    [svg.Series(fraud, svg.FRAUD, [f.typology_recall[t][0] for t in typologies])],
                                    x_range=(0.0, 1.0)),
        "contributions": svg.bar_chart("contributions", _T["contributions"], _T["log_odds"], names,
                                       [svg.Series(fraud, svg.FRAUD, [f.contributions[n][0] for n in names]),
                                        svg.Series(legit, svg.LEGIT, [f.contributions[n][1] for n in names])]),
        "latency": svg.histogram_chart("latency", _T["latency_title"], _T["ms"], _T["count"], f.latency.edges,
                                       [svg.Series(_T["count"], svg.NEUTRAL, [float(c) for c in f.latency.counts])],
                                       markers=[(f.latency_p50, _same(f"p50 {_num(f.latency_p50, 2)} ms"), P50),
                                                (f.latency_p99, _same(f"p99 {_num(f.latency_p99, 2)} ms"), P99)]),
    }


def _ring_figure(ring: RingDrawing) -> str:
    shared_en = ", ".join(f"{_KINDS.get(kind, (kind, kind))[0]} {n}" for kind, n in ring.shared.items()) or "—"
    shared_zh = "，".join(f"{_KINDS.get(kind, (kind, kind))[1]} {n}" for kind, n in ring.shared.items()) or "—"
    left = ((f"; {ring.left_out} more applications not drawn", f"；另有 {ring.left_out} 笔申请未画出")
            if ring.left_out else ("", ""))
    caption = (f"{ring.size} people, {ring.applications} applications; shared: {shared_en}{left[0]}. "
               "Circles: applications (red: confirmed fraud); squares: shared attributes, masked.",
               f"{ring.size} 人，{ring.applications} 笔申请；共享：{shared_zh}{left[1]}。"
               "圆点：申请（红色为确认欺诈）；方块：共享属性（已脱敏）。")
    return (f'<figure data-ring="{escape(ring.ring_id)}">{svg.ring_chart(ring)}'
            f"<figcaption>{_bi(caption)}</figcaption></figure>")


def render_report(data: ReportData) -> str:
    """The report as one HTML document (UTF-8 text)."""
    charts = _charts(data.figures)
    figures = "".join(f'<figure id="fig-{name}">{charts[name]}<figcaption>{_bi(_CAPTIONS[name])}</figcaption>'
                      f"</figure>" for name in FIGURES)
    rings = "".join(_ring_figure(r) for r in data.rings) or f'<p class="note">{_bi(_T["no_rings"])}</p>'
    seed = f" · seed {data.seed}" if data.seed is not None else ""
    note = ("Synthetic applications with planted fraud; personal attributes appear only masked.",
            "合成数据，含植入的欺诈；个人信息仅以脱敏形式出现。")
    return f"""<!DOCTYPE html>
<html lang="zh-CN" data-lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>天网演示报告 · Tianwang demo report</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>{_bi(_T["title"])}</h1>
<span class="note" style="color:#cfd8e3">{escape(data.generated_at)}{escape(seed)}</span>
<button type="button" data-set-lang="zh" aria-pressed="true">中文</button>
<button type="button" data-set-lang="en" aria-pressed="false">English</button></header>
<main>
<section><h2>{_bi(_T["summary"])}</h2>{_summary(data)}<p class="note">{_bi(note)}</p></section>
<section><h2>{_bi(_T["figures"])}</h2><div class="grid">{figures}</div></section>
<section><h2>{_bi(_T["rings"])}</h2><div class="grid rings">{rings}</div></section>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_report(path: Path, data: ReportData) -> Path:
    """Write the report to ``path`` (its folder made when missing) and give the path back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
