"""Tours without Streamlit: a tour is an ordered list of scenes, a scene a page's view (what a link can hold) with a
title and a short narration. This module reads a tour file (JSON) and trusts nothing in it, writes one, packs a tour
into a link parameter and back, checks each scene against the models that are here, and turns narration into
Markdown that shows exactly the typed text. The Tour page (s2s/ui/tour.py) applies all of it.

A tour file:

    {"format": "s2s-tour", "version": 1, "title": "…",
     "scenes": [{"title": "…", "narration": "…", "page": "explore",
                 "view": {"model": "classic", "source": "13 28 18 7 9 5", "shown": "1"}}, …]}

A scene's view holds strings only, the parameters of its page: Explore's are its link's (s2s/ui/explore/links.py)
and `strategy`, the strategy view open below; Evaluate's are `model`, `chart` (`training`: accuracy over training;
`lengths`: length generalization), `beside` (comma-separated models beside it on the lengths chart), `lengths`
(`low-high`), `n` (sequences per point) and `feed`."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from s2s.config import MAX_LENGTH, ProblemConfig
from s2s.decode import FEEDS
from s2s.ui.explore import links

FORMAT, VERSION = "s2s-tour", 1
MAX_BYTES = 64 * 1024        # a tour file (and a tour in a link, unpacked); the built-in tour is ~6 KB
MAX_LINK_CHARS = 16_000      # the `tour` parameter of a link, packed
MAX_SCENES = 40
MAX_TITLE, MAX_NARRATION = 120, 1500
STRATEGIES = ("curve", "beam", "sample", "context")  # Explore's strategy views (s2s/ui/explore/views.py)
CHARTS = ("training", "lengths")
EXPLORE_KEYS = (*links.KEYS, "strategy")
EVALUATE_KEYS = ("model", "chart", "beside", "lengths", "n", "feed")
PAGES = {"explore": EXPLORE_KEYS, "evaluate": EVALUATE_KEYS}
EVALUATE_NS = (200, 500, 1000, 2000, 5000)  # the choices Evaluate offers
BUILTIN = Path(__file__).with_name("tutorial_tour.json")
BUILTIN_NAME = "builtin"     # `?tour=builtin` opens it


class TourError(ValueError):
    """A tour file or link that cannot be read at all; the message says what is wrong with it."""


@dataclass(frozen=True)
class Scene:
    title: str
    narration: str
    page: str                                             # "explore" or "evaluate"
    view: dict[str, str] = field(default_factory=dict)    # the page's parameters


@dataclass(frozen=True)
class Tour:
    title: str
    scenes: tuple[Scene, ...]
    skipped: tuple[str, ...] = ()   # scenes of the file that were left out, and why ("scene 4: …")

    def with_scenes(self, scenes) -> Tour:
        return Tour(self.title, tuple(scenes))


@dataclass(frozen=True)
class EvaluateScene:
    """An Evaluate scene's view, checked: the chart it shows of which model, with what."""

    model: str
    chart: str
    beside: tuple[str, ...] = ()
    lengths: tuple[int, int] | None = None
    n: int = 500
    feed: str = "argmax"


def loads(data: bytes | str, where: str = "the tour file") -> Tour:
    """The tour in `data` (a file's bytes). TourError when it is no tour at all (too big, not JSON, another
    format); a scene that is malformed is left out and named in `skipped`."""
    if len(data) > MAX_BYTES:
        raise TourError(f"{where}: {len(data):,} bytes, over the {MAX_BYTES // 1024} KiB limit for a tour file.")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise TourError(f"{where}: not a JSON tour file ({str(error)[:120]}).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TourError(f"{where}: not a Seq2Seq Studio tour (it needs \"format\": \"{FORMAT}\").")
    if document.get("version") != VERSION:
        raise TourError(f"{where}: tour format version {str(document.get('version'))[:10]!s}; this app reads "
                        f"version {VERSION}.")
    title, scenes = document.get("title", "A tour"), document.get("scenes")
    if not isinstance(title, str) or not isinstance(scenes, list):
        raise TourError(f"{where}: its title must be text and its scenes a list.")
    kept, skipped = [], []
    for number, raw in enumerate(scenes, 1):
        if len(kept) == MAX_SCENES:
            skipped.append(f"scenes {number} to {len(scenes)}: a tour has at most {MAX_SCENES} scenes")
            break
        try:
            kept.append(_scene(raw))
        except TourError as error:
            skipped.append(f"scene {number}: {error}")
    if not kept:
        raise TourError(f"{where}: no usable scene" + (f" ({'; '.join(skipped[:3])})" if skipped else "") + ".")
    return Tour(title.strip()[:MAX_TITLE] or "A tour", tuple(kept), tuple(skipped))


def _scene(raw) -> Scene:
    if not isinstance(raw, dict):
        raise TourError("not a scene (an object with title, narration, page and view)")
    title, narration = raw.get("title", ""), raw.get("narration", "")
    page, view = raw.get("page"), raw.get("view", {})
    if not isinstance(title, str) or not isinstance(narration, str):
        raise TourError("its title and narration must be text")
    if not isinstance(page, str) or page not in PAGES:
        raise TourError(f"page “{str(page)[:20]}” is not one a scene can show ({', '.join(PAGES)})")
    if not isinstance(view, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in view.items()):
        raise TourError("its view must map parameter names to text")
    unknown = [k for k in view if k not in PAGES[page]]
    if unknown:
        raise TourError(f"{page} has no parameter “{unknown[0][:20]}” (it has {', '.join(PAGES[page])})")
    if len(title) > MAX_TITLE or len(narration) > MAX_NARRATION:
        raise TourError(f"its title is over {MAX_TITLE} characters or its narration over {MAX_NARRATION}")
    if any(len(v) > links.LONGEST_VALUE for v in view.values()):
        raise TourError(f"a parameter is over {links.LONGEST_VALUE} characters")
    return Scene(title.strip() or "Untitled scene", narration.strip(), page, dict(view))


def dumps(tour: Tour) -> str:
    """The tour as a file's text (what `loads` reads back)."""
    return json.dumps({"format": FORMAT, "version": VERSION, "title": tour.title,
                       "scenes": [asdict(scene) for scene in tour.scenes]}, indent=1, ensure_ascii=False)


def builtin() -> Tour:
    """The built-in tour of the tutorial's story, on the shipped models."""
    return loads(BUILTIN.read_bytes(), "the built-in tour")


def pack(tour: Tour) -> str:
    """The tour as one URL-safe link parameter (compressed JSON)."""
    compact = json.dumps({"format": FORMAT, "version": VERSION, "title": tour.title,
                          "scenes": [asdict(scene) for scene in tour.scenes]}, separators=(",", ":"))
    return "z" + base64.urlsafe_b64encode(zlib.compress(compact.encode(), 9)).decode().rstrip("=")


def unpack(text: str) -> Tour:
    """The tour a link's `tour` parameter holds (`pack`'s, or `builtin`); TourError when it holds none."""
    if text == BUILTIN_NAME:
        return builtin()
    if len(text) > MAX_LINK_CHARS or not re.fullmatch(r"z[A-Za-z0-9_-]+", text):
        raise TourError("the link's tour is not one this app wrote (or it was cut short).")
    try:
        packed = base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_BYTES + 1)
    except (ValueError, zlib.error):
        raise TourError("the link's tour is damaged (it was cut short, or changed).") from None
    if len(data) > MAX_BYTES or not inflater.eof:
        raise TourError(f"the link's tour unpacks past {MAX_BYTES // 1024} KiB (or was cut short).")
    return loads(data, "the link's tour")


def check(scene: Scene, saved: Mapping[str, ProblemConfig], snapshots: Callable[[str | None], int]) -> list[str]:
    """What in `scene` cannot be shown with the models here (`saved`: each saved model's problem, by name;
    `snapshots(name)`: how many snapshots model `name` has); empty when the scene is fine."""
    if "model" not in scene.view:
        return ["it names no model"]
    if scene.page == "evaluate":
        return read_evaluate(scene.view, saved)[1]
    view = {k: v for k, v in scene.view.items() if k != "strategy"}
    notes = list(links.read(view, saved, None, snapshots).notes)
    if scene.view.get("strategy", STRATEGIES[0]) not in STRATEGIES:
        notes.append(f"“{scene.view['strategy'][:20]}” is not a strategy view ({', '.join(STRATEGIES)})")
    return notes


def read_evaluate(view: Mapping[str, str], saved: Mapping[str, ProblemConfig]) -> tuple[EvaluateScene | None,
                                                                                          list[str]]:
    """An Evaluate scene's view checked against the saved models: (the scene, []) or (None, what is wrong)."""
    notes = []
    model, chart = view.get("model", ""), view.get("chart", "")
    if model not in saved:
        notes.append(f"there is no model named “{model[:64]}” here")
    if chart not in CHARTS:
        notes.append(f"“{chart[:20]}” is not an Evaluate chart ({', '.join(CHARTS)})")
    beside = tuple(filter(None, (name.strip() for name in view.get("beside", "").split(","))))
    missing = [name for name in beside if name not in saved]
    if missing:
        notes.append(f"there is no model named “{missing[0][:64]}” to set beside it")
    n = view.get("n", "500")
    if not (n.isdecimal() and int(n) in EVALUATE_NS):
        notes.append(f"“{n[:12]}” sequences per point is not one of {', '.join(map(str, EVALUATE_NS))}")
    feed = view.get("feed", "argmax")
    if feed not in FEEDS:
        notes.append(f"“{feed[:20]}” is not a decoder feedback (use {' or '.join(FEEDS)})")
    lengths = None
    if "lengths" in view:
        low, _, high = view["lengths"].partition("-")
        if not (low.isdecimal() and high.isdecimal() and 1 <= int(low) <= int(high) <= MAX_LENGTH):
            notes.append(f"“{view['lengths'][:20]}” is not a range of source lengths like 6-18 (up to {MAX_LENGTH})")
        else:
            lengths = (int(low), int(high))
    if notes:
        return None, notes
    shortest = saved[model].shortest_source
    if lengths is not None and lengths[0] < shortest:
        return None, [f"{model}'s sources have at least {shortest} values"]
    return EvaluateScene(model, chart, beside, lengths, int(n), feed), []


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=^\"'])")


def plain_markdown(text: str) -> str:
    """Markdown that shows `text` exactly as typed: every character Markdown (or Streamlit's :color[…], :icon:
    and $math$) would read is escaped, so a link, an image or HTML in a narration stays text. Paragraphs are
    kept."""
    return "\n\n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", paragraph).replace("\n", "  \n")
                       for paragraph in re.split(r"\n\s*\n", text.strip()))
