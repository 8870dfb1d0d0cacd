"""Deterministic demo domains in the Amazon Reviews 2023 raw layout.

The domains share latent interests (topics such as coffee or camping) but name them with their own
vocabulary: an equipment shop, a bookshop and an online-course catalogue. Each topic has four stages
(entry, core, extension, advanced) and users tend to move through them in order, so the sequences
carry a signal a sequential model can learn and a text encoder can carry across domains. The data
also contain what real dumps contain: repeated reviews, items without text and sparse users.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np

from recg.io import atomic_path

STAGES = 4
VARIANTS = 5

# topic -> four stage phrases (entry, core, extension, advanced), per domain vocabulary
CATALOGUES: dict[str, dict[str, list[str]]] = {
    "Gear": {
        "coffee": [
            "pour-over coffee dripper starter set",
            "conical burr coffee grinder",
            "milk frother and latte pitcher",
            "dual boiler espresso machine",
        ],
        "camping": [
            "two-person dome tent",
            "insulated down sleeping bag",
            "portable camp stove with fuel canister",
            "ultralight backpacking shelter",
        ],
        "painting": [
            "acrylic paint starter set",
            "stretched cotton canvas panels",
            "sable brush set with palette knives",
            "professional oil paint collection",
        ],
        "fitness": [
            "non-slip yoga mat",
            "adjustable dumbbell pair",
            "resistance band set with door anchor",
            "olympic barbell with bumper plates",
        ],
        "gardening": [
            "vegetable seed starter tray kit",
            "cedar raised garden bed",
            "drip irrigation hose kit",
            "heated greenhouse grow cabinet",
        ],
        "photography": [
            "entry-level mirrorless camera body",
            "50mm prime camera lens",
            "carbon fiber camera tripod",
            "full-frame telephoto zoom lens",
        ],
        "baking": [
            "nonstick baking sheet set",
            "tilt-head stand mixer",
            "sourdough proofing basket and dough scraper",
            "stone deck bread oven",
        ],
        "guitar": [
            "acoustic guitar starter pack",
            "clip-on guitar tuner and capo",
            "tube guitar amplifier",
            "handmade solid-wood concert guitar",
        ],
    },
    "Books": {
        "coffee": [
            "Coffee at Home: a beginner's guide to brewing",
            "The Grind: understanding coffee beans, roasts and grinders",
            "Latte Art Step by Step",
            "Espresso Science for the Advanced Barista",
        ],
        "camping": [
            "Your First Night Outdoors: camping for beginners",
            "Sleeping Warm: the backcountry camping handbook",
            "Camp Kitchen: cooking on the trail",
            "Thru-Hiking the Wilderness: an expert's expedition manual",
        ],
        "painting": [
            "Painting for Absolute Beginners",
            "Colour Theory for the Studio Painter",
            "Brushwork and Palette Knife Techniques",
            "Mastering Oil Portraits",
        ],
        "fitness": [
            "Yoga Basics: a gentle introduction",
            "Strength Training at Home",
            "Mobility and Stretching Workouts",
            "Advanced Powerlifting Programs",
        ],
        "gardening": [
            "Grow Your Own Vegetables: a first garden",
            "The Raised Bed Gardener",
            "Watering, Soil and Compost Explained",
            "Year-Round Greenhouse Growing",
        ],
        "photography": [
            "Photography for Beginners: getting off auto mode",
            "Understanding Lenses and Composition",
            "Landscape Photography with a Tripod",
            "Wildlife Photography: the professional's field guide",
        ],
        "baking": [
            "Easy Home Baking: cookies and cakes",
            "The Bread Baker's Apprentice",
            "Sourdough: starters, proofing and shaping",
            "Artisan Hearth Breads for the Expert Baker",
        ],
        "guitar": [
            "Guitar for Beginners: your first chords",
            "Fingerpicking and Strumming Patterns",
            "Guitar Tone and Amplification Explained",
            "Classical Guitar Virtuoso Repertoire",
        ],
    },
    "Courses": {
        "coffee": [
            "Intro to Home Brewing video course",
            "Barista Skills: dialing in your grind, online class",
            "Milk Steaming and Latte Art workshop",
            "Espresso Extraction Masterclass",
        ],
        "camping": [
            "Camping 101 video course",
            "Backcountry Shelter and Sleep Systems class",
            "Outdoor Cooking on a Camp Stove workshop",
            "Wilderness Expedition Planning masterclass",
        ],
        "painting": [
            "Learn to Paint with Acrylics online class",
            "Canvas Preparation and Composition course",
            "Expressive Brush and Knife Techniques workshop",
            "Oil Painting Masterclass",
        ],
        "fitness": [
            "Beginner Yoga Flow video series",
            "Dumbbell Strength Program online course",
            "Resistance Band Conditioning class",
            "Barbell Powerlifting Coaching masterclass",
        ],
        "gardening": [
            "Starting Seeds Indoors online course",
            "Building a Raised Bed Garden workshop",
            "Irrigation and Soil Care class",
            "Greenhouse Growing Masterclass",
        ],
        "photography": [
            "Camera Basics video course",
            "Prime Lens Portraits online class",
            "Tripod Landscape and Long Exposure workshop",
            "Telephoto Wildlife Photography masterclass",
        ],
        "baking": [
            "Home Baking Basics video course",
            "Stand Mixer Breads and Doughs class",
            "Sourdough Proofing and Shaping workshop",
            "Artisan Bread Oven Masterclass",
        ],
        "guitar": [
            "First Chords on Acoustic Guitar video course",
            "Tuning, Capo and Rhythm online class",
            "Electric Tone and Amplifier Settings workshop",
            "Concert Guitar Performance masterclass",
        ],
    },
}

STYLE = {
    "Gear": {
        "makers": ["Northwind", "Apex", "Kestrel", "Maple & Co", "Vantage"],
        "variants": ["compact", "deluxe", "classic", "travel", "pro"],
        "stage_words": ["starter", "essential", "add-on", "premium"],
        "category": "Sports, Hobbies & Kitchen Equipment",
    },
    "Books": {
        "makers": ["A. Rivera", "J. Okafor", "M. Lindqvist", "S. Tanaka", "R. Moreau"],
        "variants": ["paperback", "hardcover", "illustrated", "2nd edition", "spiral-bound"],
        "stage_words": ["introductory", "practical", "technique", "expert"],
        "category": "Books",
    },
    "Courses": {
        "makers": ["LearnPath", "SkillHub", "Studio Online", "OpenClass", "MasterTrack"],
        "variants": ["2 hours", "4 hours", "6 weeks", "weekend", "self-paced"],
        "stage_words": ["beginner level", "intermediate level", "skills module", "advanced level"],
        "category": "Online Courses",
    },
}

DEMO_DOMAINS = tuple(CATALOGUES)


def _seed(name: str, seed: int) -> int:
    return (zlib.crc32(name.encode()) + 1_000_003 * seed) % (2**32)


def _items(name: str) -> list[dict]:
    style = STYLE[name]
    items = []
    for t, (topic, phrases) in enumerate(sorted(CATALOGUES[name].items())):
        for stage, phrase in enumerate(phrases):
            for v in range(VARIANTS):
                maker, variant = style["makers"][v], style["variants"][v]
                if name == "Books":
                    title = f"{phrase} ({variant}) by {maker}"
                else:
                    title = f"{maker} {phrase}, {variant}"
                items.append(
                    {
                        "asin": f"D{name[:2].upper()}{t:02d}{stage}{v}",
                        "topic": t,
                        "stage": stage,
                        "variant": v,
                        "title": title,
                        "features": [f"{style['stage_words'][stage]} {topic} pick", variant],
                        "description": [
                            f"{phrase.capitalize()} from {maker}, "
                            f"a {style['stage_words'][stage]} choice for {topic} enthusiasts."
                        ],
                        "store": maker,
                        "categories": [style["category"], topic.capitalize()],
                    }
                )
    return items


def _user_sequence(
    rng: np.random.Generator, n_topics: int, length: int
) -> list[tuple[int, int, int]]:
    """(topic, stage, variant) triples: mostly the next stage of the current topic."""
    primary = int(rng.integers(n_topics))
    secondary = int((primary + 1 + rng.integers(n_topics - 1)) % n_topics)
    favourite = int(rng.integers(VARIANTS))
    topic, stage = primary, int(rng.random() < 0.3)
    seen: set[tuple[int, int, int]] = set()
    sequence = []
    while len(sequence) < length:
        variant = favourite if rng.random() < 0.6 else int(rng.integers(VARIANTS))
        key = (topic, stage, variant)
        if key in seen:
            free = [v for v in range(VARIANTS) if (topic, stage, v) not in seen]
            if not free:
                topic, stage = secondary if topic == primary else primary, 0
                continue
            key = (topic, stage, free[int(rng.integers(len(free)))])
        seen.add(key)
        sequence.append(key)
        draw = rng.random()
        if draw < 0.75:
            stage = stage + 1 if stage + 1 < STAGES else 2
        elif draw < 0.88:
            topic, stage = (secondary if topic == primary else primary), 0
        else:
            stage = int(rng.integers(STAGES))
    return sequence


def generate(
    name: str, reviews_path: str | Path, meta_path: str | Path, users: int, seed: int
) -> None:
    """Write one demo domain's review and metadata files (byte-identical for the same inputs)."""
    if name not in CATALOGUES:
        raise ValueError(f"unknown demo domain '{name}' (known: {', '.join(DEMO_DOMAINS)})")
    rng = np.random.default_rng(_seed(name, seed))
    items = _items(name)
    lookup = {(it["topic"], it["stage"], it["variant"]): it for it in items}
    n_topics = len(CATALOGUES[name])
    textless = {items[i]["asin"] for i in rng.choice(len(items), size=3, replace=False)}

    reviews = []
    for u in range(users):
        user_id = f"{name[:2].upper()}USER{u:05d}"
        length = int(min(4 + rng.geometric(0.2), 20))
        sequence = _user_sequence(rng, n_topics, length)
        time = int(1_546_300_800_000 + rng.integers(0, 4 * 365) * 86_400_000)
        for topic, stage, variant in sequence:
            item = lookup[(topic, stage, variant)]
            if rng.random() > 0.05:
                time += int(rng.integers(1, 30)) * 86_400_000 + int(rng.integers(0, 86_400_000))
            reviews.append(_review(rng, user_id, item["asin"], time))
            if rng.random() < 0.02:
                reviews.append(_review(rng, user_id, item["asin"], time + 86_400_000))

    meta = []
    for item in items:
        if item["asin"] in textless:
            record = {"title": "", "features": [], "description": []}
        else:
            record = {k: item[k] for k in ("title", "features", "description")}
        meta.append(
            {
                "main_category": STYLE[name]["category"],
                **record,
                "average_rating": None,
                "rating_number": None,
                "price": None,
                "images": [],
                "videos": [],
                "store": item["store"],
                "categories": item["categories"],
                "details": {},
                "parent_asin": item["asin"],
                "bought_together": None,
            }
        )
    _write_jsonl(reviews, reviews_path)
    _write_jsonl(meta, meta_path)


def _review(rng: np.random.Generator, user_id: str, asin: str, time: int) -> dict:
    return {
        "rating": float(rng.integers(3, 6)),
        "title": "",
        "text": "",
        "images": [],
        "asin": asin,
        "parent_asin": asin,
        "user_id": user_id,
        "timestamp": time,
        "helpful_vote": 0,
        "verified_purchase": True,
    }


def _write_jsonl(records: list[dict], path: str | Path) -> None:
    with (
        atomic_path(path) as tmp,
        tmp.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle,
    ):
        for record in records:
            handle.write((json.dumps(record) + "\n").encode())
