"""Rebuild the demonstration photos, their masks and ``photos.json`` from scikit-image's sample data.

The photos are sample images that scikit-image ships inside its wheel (``skimage/data/``), each
public domain or CC0 according to the docstring of its loader in ``skimage/data/_fetchers.py``
(quoted in ``photos.json``). scikit-image is not a bdlearn dependency; unpack its wheel anywhere,
for example::

    pip download --no-deps scikit-image==0.26.0 -d /tmp/skimage
    unzip -q /tmp/skimage/scikit_image-*.whl 'skimage/data/*' -d /tmp/skimage
    python tools/make_photos.py /tmp/skimage/skimage/data    # writes into data/photos/

Each photo ships as scikit-image's file, byte for byte, at its original size (bdlearn edits any
size and gives the edit back at that size). Each mask, at the photo's size, is white (255) where
the edit goes and black elsewhere, drawn as the ellipse or rectangle listed below. The boxes are
given in the coordinates of the photo's centre square shown at 256x256 (left, top, right, bottom,
inclusive) and mapped to the photo's pixels.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

#: The side of the square view the mask boxes below are given in.
BOX_SIDE = 256
#: Where the photos ship: package data, read through bdlearn.worlds.photos.
OUT = Path(__file__).resolve().parents[1] / "data" / "photos"
SKIMAGE_VERSION = "0.26.0"

PHOTOS = [
    {
        "name": "astronaut", "file": "astronaut.png", "title": "Astronaut Eileen Collins",
        "credit": "NASA, via the NASA Great Images database (https://flic.kr/p/r9qvLn)",
        "licence": "public domain",
        "licence_text": "No known copyright restrictions, released into the public domain.",
        "edits": [
            {"mask": "astronaut_helmet.png", "region": "the helmet", "shape": "ellipse",
             "box": [136, 158, 254, 262], "prompt": "a basketball"},
            {"mask": "astronaut_flag.png", "region": "the flag", "shape": "rectangle",
             "box": [0, 0, 46, 255], "prompt": "a bookshelf full of books"},
        ],
    },
    {
        "name": "coffee", "file": "coffee.png", "title": "Coffee cup",
        "credit": "Rachel Michetti, courtesy of Pikolo Espresso Bar",
        "licence": "CC0",
        "licence_text": "No copyright restrictions.  CC0 by the photographer (Rachel Michetti).",
        "edits": [
            {"mask": "coffee_drink.png", "region": "the coffee", "shape": "ellipse",
             "box": [64, 58, 178, 126], "prompt": "a cup of green tea"},
            {"mask": "coffee_spoon.png", "region": "the spoon", "shape": "ellipse",
             "box": [140, 148, 200, 212], "prompt": "a chocolate chip cookie"},
        ],
    },
    {
        "name": "chelsea", "file": "chelsea.png", "title": "Chelsea the cat",
        "credit": "Stefan van der Walt",
        "licence": "CC0",
        "licence_text": "No copyright restrictions.  CC0 by the photographer (Stefan van der Walt).",
        "edits": [
            {"mask": "chelsea_eyes.png", "region": "the eyes", "shape": "rectangle",
             "box": [36, 62, 244, 144], "prompt": "black sunglasses"},
        ],
    },
    {
        "name": "rocket", "file": "rocket.jpg", "title": "Launch of DSCOVR on Falcon 9",
        "credit": "SpaceX (https://www.flickr.com/photos/spacexphotos/16511594820/)",
        "licence": "public domain",
        "licence_text": "The image was captured by SpaceX and released in the public domain.",
        "edits": [
            {"mask": "rocket_sky.png", "region": "a patch of sky", "shape": "ellipse",
             "box": [64, 18, 110, 64], "prompt": "a full moon"},
        ],
    },
]


def photo_box(box: list[int], size: tuple[int, int]) -> list[int]:
    """``box`` in the 256x256 view of the centre square, as pixels of a photo of ``size`` (width, height)."""
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    scale = side / BOX_SIDE
    x0, y0, x1, y1 = box
    return [round(left + x0 * scale), round(top + y0 * scale), round(left + (x1 + 1) * scale) - 1,
            round(top + (y1 + 1) * scale) - 1]


def draw_mask(shape: str, box: list[int], size: tuple[int, int]) -> Image.Image:
    """A mask of ``size`` (width, height), white inside the ellipse or rectangle ``box``, black elsewhere."""
    mask = Image.new("L", size, 0)
    getattr(ImageDraw.Draw(mask), shape)(photo_box(box, size), fill=255)
    return mask


def main(skimage_data: Path) -> None:
    listing = []
    for old in [*OUT.glob("*.png"), *OUT.glob("*.jpg")]:
        old.unlink()
    for photo in PHOTOS:
        original = skimage_data / photo["file"]
        image_name = f"{photo['name']}{original.suffix}"
        (OUT / image_name).write_bytes(original.read_bytes())
        size = Image.open(original).size
        for edit in photo["edits"]:
            draw_mask(edit["shape"], edit["box"], size).save(OUT / edit["mask"], optimize=True)
        listing.append({
            "name": photo["name"], "image": image_name, "title": photo["title"],
            "source": f"scikit-image {SKIMAGE_VERSION}, skimage/data/{photo['file']}",
            "credit": photo["credit"], "licence": photo["licence"], "licence_text": photo["licence_text"],
            "edits": [{key: edit[key] for key in ("mask", "region", "prompt")} for edit in photo["edits"]],
        })
    (OUT / "photos.json").write_text(json.dumps({"photos": listing}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {Path(__file__).name} PATH/TO/skimage/data")
    main(Path(sys.argv[1]))
