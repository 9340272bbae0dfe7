"""Make a clean page look scanned or photographed, and move the recorded boxes with it.

Each augmentation has its own probability and a share of pages stays clean. The geometry is a chain of point maps:
a slip laid on a tabletop or a flatbed's glass, rotation and perspective (one homography, so the page is resampled
once), the curl of paper that does not lie flat (a smooth non-linear warp), a lower capture resolution, and margins
cut off by the capture. Boxes go through the same chain (along their edges, which a warp bends), so they stay exact
in the output's pixels; a cut never reaches a labelled value. Everything draws from the sample's own generators:
the same (seed, index) gives the same pixels.
"""

import io
import random

import numpy as np
from PIL import Image, ImageChops, ImageFilter

CLEAN = 0.45  # share of pages kept exactly as rendered (no scan effect; print and marks may still be there)
PROBABILITIES = {
    "photo": 0.5,  # receipts only: a phone photo of the slip on a table, with uneven light and a shadow
    "shape/flatbed": 0.1,  # receipts only, not photographed: a small slip on a whole A4 flatbed scan, at an angle
    "rotate": 0.5,
    "perspective": 0.2,
    "shape/curl": 0.4,  # photographed slips only: paper off a roll does not lie flat (a scanner's glass holds it)
    "shape/low-res": 0.12,
    "shape/cut-off": 0.12,
    "shape/fold": 0.12,
    "blur": 0.25,
    "noise": 0.25,
    "contrast": 0.5,
    "gray": 0.25,
    "jpeg": 0.3,
}
TABLETOPS = [(92, 72, 56), (60, 60, 64), (150, 140, 125), (35, 45, 40), (180, 178, 172)]


def augment(image: Image.Image, rng: random.Random, noise_rng: np.random.Generator, photo: bool, boxes: list):
    """Return the augmented image, the `Mapping` of boxes onto it, the names of what was applied, and the JPEG
    quality. `boxes` are the labelled values' boxes, which no cut may reach."""
    if rng.random() < CLEAN:
        return image, Mapping([], image.size), [], 92
    applied = [
        name for name, p in PROBABILITIES.items()
        if rng.random() < p and (photo or name not in ("photo", "shape/flatbed"))
    ]  # fmt: skip
    if "photo" in applied and "shape/flatbed" in applied:
        applied.remove("shape/flatbed")
    if "shape/curl" in applied and "photo" not in applied:
        applied.remove("shape/curl")
    maps = []  # input point → output point, applied in order
    if "photo" in applied:  # lay the slip on a tabletop, some of it showing around the paper
        pad = rng.randint(40, 120)
        canvas = Image.new("RGB", (image.width + 2 * pad, image.height + 2 * pad), rng.choice(TABLETOPS))
        canvas.paste(image, (pad, pad))
        image = canvas
        maps.append(_homography_map(np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], dtype=float)))
    if "shape/flatbed" in applied:
        image, matrix = scan_flatbed(image, rng)
        maps.append(_homography_map(matrix))
    if "shape/flatbed" in applied:  # the slip lies turned on the glass; the scan itself is square
        applied = [name for name in applied if name not in ("rotate", "perspective")]
    if "rotate" in applied or "perspective" in applied:
        homography = _homography(image.size, rng, rotate="rotate" in applied, perspective="perspective" in applied)
        image = _warp_homography(image, homography)
        maps.append(_homography_map(homography))
    if "shape/curl" in applied:
        image, curl = curl_page(image, rng)
        maps.append(curl)
    if "shape/low-res" in applied:
        scale = rng.uniform(0.7, 0.9)  # a capture at 70-90 % of the print's resolution
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        sx, sy = size[0] / image.width, size[1] / image.height
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        maps.append(_homography_map(np.diag([sx, sy, 1.0])))
    move = Mapping(maps, image.size)
    if "shape/cut-off" in applied:
        image, cut = cut_off_edge(image, [move(box) for box in boxes], rng)
        if cut is None:
            applied.remove("shape/cut-off")
        else:
            maps.append(_homography_map(np.array([[1, 0, -cut[0]], [0, 1, -cut[1]], [0, 0, 1]], dtype=float)))
            move = Mapping(maps, image.size)
    if "photo" in applied:
        image = light_unevenly(image, rng, noise_rng)
    if "shape/fold" in applied:
        image = fold_page(image, rng)
    if "blur" in applied and "shape/low-res" in applied:  # resampling down has already softened it
        applied.remove("blur")
    if "blur" in applied:
        image = image.filter(_gaussian_kernel(rng.uniform(0.4, 1.0)))
    if "contrast" in applied or "gray" in applied:
        image = _tone(image, rng, gray="gray" in applied)
    if "noise" in applied:
        grain = noise_rng.standard_normal((image.height, image.width, 1), dtype=np.float32)
        grain *= rng.uniform(2, 8)
        pixels = np.asarray(image, dtype=np.float32)
        pixels += grain
        image = Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))
    quality = rng.randint(60, 85) if "jpeg" in applied else 92
    return image, move, applied, quality


def _warp_homography(image: Image.Image, homography: np.ndarray) -> Image.Image:
    inverse = np.linalg.inv(homography)  # Pillow wants output → input
    return image.transform(
        image.size,
        Image.Transform.PERSPECTIVE,
        (inverse / inverse[2, 2]).flatten()[:8],
        Image.Resampling.BILINEAR,
        fillcolor=image.getpixel((2, 2)),
    )


def _homography_map(matrix: np.ndarray):
    def move(points: np.ndarray) -> np.ndarray:
        moved = np.c_[points, np.ones(len(points))] @ matrix.T
        return moved[:, :2] / moved[:, 2:]

    return move


# flatbed resolutions and their shares: 1654 × 2339, 1984 × 2806, 2480 × 3508 and 4961 × 7016 pixels (a scan of the
# archive at 600 dpi is rare and large); the slip's pixels are a 203-dpi printer's
A4_DPI = {200: 0.35, 240: 0.25, 300: 0.3, 600: 0.1}
FLATBED_PAPER = [(250, 250, 250), (236, 236, 236), (214, 214, 216), (190, 190, 192)]


def scan_flatbed(image: Image.Image, rng: random.Random) -> tuple[Image.Image, np.ndarray]:
    """The slip somewhere on an A4 scan (210 × 297 mm at a flatbed's resolution), turned by up to 20°, on the
    scanner lid's white or grey."""
    dpi = rng.choices(list(A4_DPI), weights=list(A4_DPI.values()))[0]
    width, height = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    scale = dpi / 203 * rng.uniform(0.9, 1.1)
    scale = min(scale, 0.8 * height / image.height)  # a long slip still fits on the glass
    angle = np.radians(rng.uniform(-20, 20))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    w, h = image.width * scale, image.height * scale
    extent = (abs(np.cos(angle)) * w + abs(np.sin(angle)) * h, abs(np.sin(angle)) * w + abs(np.cos(angle)) * h)
    cx = rng.uniform(extent[0] / 2, max(extent[0] / 2, width - extent[0] / 2))
    cy = rng.uniform(extent[1] / 2, max(extent[1] / 2, height - extent[1] / 2))
    # input → output: scale and turn about the slip's centre, then move that centre to (cx, cy)
    centre = np.array([image.width / 2, image.height / 2])
    matrix = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    matrix[:2, 2] = np.array([cx, cy]) - matrix[:2, :2] @ centre
    inverse = np.linalg.inv(matrix)
    background = rng.choice(FLATBED_PAPER)
    mask = Image.new("L", image.size, 255).transform((width, height), Image.Transform.AFFINE, inverse[:2].flatten(),
                                                     Image.Resampling.BILINEAR, fillcolor=0)  # fmt: skip
    slip = image.transform((width, height), Image.Transform.AFFINE, inverse[:2].flatten(), Image.Resampling.BILINEAR)
    page = Image.new("RGB", (width, height), background)
    page.paste(slip, (0, 0), mask)
    return page, matrix


def curl_page(image: Image.Image, rng: random.Random):
    """Paper that does not lie flat: each column lifts by a smooth bow (its ends or its middle), a whole number of
    pixels, so the warp is a shift per column and the point map the same shift: boxes follow the pixels exactly."""
    w, h = image.size
    t = (np.arange(w) + 0.5) / w
    lift = rng.uniform(0.01, 0.03) * h
    bow = lift * (np.sin(np.pi * t) if rng.random() < 0.5 else (2 * t - 1) ** 2)
    shift = np.round(bow.max() - bow if rng.random() < 0.5 else bow - bow.min()).astype(np.int64)
    warped = Image.new("RGB", (w, h + int(shift.max())), image.getpixel((2, 2)))
    starts = np.flatnonzero(np.diff(shift, prepend=-1))  # runs of columns sharing a shift move as one strip
    for start, end in zip(starts, [*starts[1:], w], strict=True):
        warped.paste(image.crop((int(start), 0, int(end), h)), (int(start), int(shift[start])))
    columns = np.append(shift, shift[-1])

    def move(points: np.ndarray) -> np.ndarray:
        x = np.clip(points[:, 0], 0, w).astype(np.int64)
        return np.c_[points[:, 0], points[:, 1] + columns[x]]

    return warped, move


def cut_off_edge(image: Image.Image, boxes: list, rng: random.Random):
    """The capture missed part of a margin: cut up to 60 % of the room between the labelled values and one or two
    edges; never into a value (a cut of nothing leaves the image as it is)."""
    if not boxes:
        return image, None
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
    room = [left - 4, top - 4, image.width - right - 4, image.height - bottom - 4]
    cut = [0, 0, 0, 0]
    for side in rng.sample(range(4), rng.randint(1, 2)):
        cut[side] = max(0, int(room[side] * rng.uniform(0.2, 0.6)))
    if not any(cut):
        return image, None
    box = (cut[0], cut[1], image.width - cut[2], image.height - cut[3])
    return image.crop(box), box


def light_unevenly(image: Image.Image, rng: random.Random, noise_rng: np.random.Generator) -> Image.Image:
    """A phone's light: brighter towards one side, and the soft shadow of the hand or phone over part of it."""
    w, h = image.size
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    light = 1 - rng.uniform(0.05, 0.25) * (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    if rng.random() < 0.5:  # a shadow edge across the page, softened
        edge = (xx - rng.uniform(0, w)) * np.cos(angle + 1.2) + (yy - rng.uniform(0, h)) * np.sin(angle + 1.2)
        light *= 1 - rng.uniform(0.15, 0.35) / (1 + np.exp(-edge / (0.02 * max(w, h))))
    field = Image.fromarray((light * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
    return ImageChops.multiply(image, Image.merge("RGB", (field, field, field)))


def fold_page(image: Image.Image, rng: random.Random) -> Image.Image:
    """A crease where the page was folded: a thin dark line with a pale band beside it, across the page."""
    w, h = image.size
    horizontal = rng.random() < 0.7
    at = round(rng.uniform(0.3, 0.7) * (h if horizontal else w))
    offsets = np.arange(-12, 13, dtype=np.float32)
    profile = 1 - 0.22 * np.exp(-((offsets / 1.5) ** 2)) + 0.05 * np.exp(-(((offsets - 6) / 5) ** 2))
    shade = np.clip(profile * 255, 0, 255).astype(np.uint8)
    band = (0, at - 12, w, at + 13) if horizontal else (at - 12, 0, at + 13, h)
    region = image.crop(band)  # only the crease's neighbourhood changes
    field = shade[:, None].repeat(region.width, axis=1) if horizontal else shade[None, :].repeat(region.height, axis=0)
    mask = Image.fromarray(field)
    image.paste(ImageChops.multiply(region, Image.merge("RGB", (mask, mask, mask))), band[:2])
    return image


def _homography(size: tuple[int, int], rng: random.Random, rotate: bool, perspective: bool) -> np.ndarray:
    """Input → output: a small rotation (≤ 1.5°) about the centre and/or the corners nudged by up to 2 % of the page."""
    w, h = size
    angle = np.radians(rng.uniform(-1.5, 1.5)) if rotate else 0.0
    cos, sin = np.cos(angle), np.sin(angle)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=float)
    centred = src - (w / 2, h / 2)
    dst = centred @ np.array([[cos, sin], [-sin, cos]]) + (w / 2, h / 2)
    if perspective:
        dst += [(rng.uniform(-1, 1) * 0.02 * w, rng.uniform(-1, 1) * 0.02 * h) for _ in range(4)]
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coefficients = np.linalg.solve(np.array(rows), dst.flatten())
    return np.append(coefficients, 1).reshape(3, 3)


def _gaussian_kernel(sigma: float) -> ImageFilter.Kernel:
    """A 3×3 Gaussian: for sigma ≤ 1.1 it keeps nearly all the weight, at half the cost of GaussianBlur."""
    weights = [np.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return ImageFilter.Kernel((3, 3), weights, scale=sum(weights))


def _tone(image: Image.Image, rng: random.Random, gray: bool) -> Image.Image:
    """Contrast, brightness and a paper tint through one lookup table; optionally a grey scan."""
    contrast, brightness = rng.uniform(0.75, 1.1), rng.uniform(-25, 15)
    tint = [rng.uniform(0.93, 1.0) for _ in range(3)]
    lut = [min(255, max(0, round(((v - 128) * contrast + 128 + brightness) * t))) for t in tint for v in range(256)]
    image = image.point(lut)
    return image.convert("L").convert("RGB") if gray else image


class Mapping:
    """The chain of point maps from the rendered page to the output image, for boxes: a box maps to the box around
    its moved edges (nine points on each, since a curl bends them), clipped to the image."""

    STEPS = np.linspace(0, 1, 9)

    def __init__(self, maps: list, size: tuple[int, int]):
        self.maps, self.size = maps, size

    def _edges(self, boxes) -> np.ndarray:
        """Each box's moved edge points: (boxes, 36, 2)."""
        x0, y0, x1, y1 = (np.asarray(boxes, dtype=float).reshape(-1, 4)[:, k, None] for k in range(4))
        along, across = x0 + (x1 - x0) * self.STEPS, y0 + (y1 - y0) * self.STEPS
        full = np.ones_like(self.STEPS)
        xs = np.concatenate([along, along, x0 * full, x1 * full], axis=1)
        ys = np.concatenate([y0 * full, y1 * full, across, across], axis=1)
        points = np.stack([xs, ys], axis=-1).reshape(-1, 2)
        for point_map in self.maps:
            points = point_map(points)
        return points.reshape(-1, 36, 2)

    def __call__(self, box):
        edges = self._edges([box])[0]
        (x0, y0), (x1, y1) = edges.min(axis=0), edges.max(axis=0)
        return max(0, x0), max(0, y0), min(self.size[0], x1), min(self.size[1], y1)

    def inside(self, boxes) -> np.ndarray:
        """Whether each box lands whole inside the image (what a cut margin or a tilted corner did not take away)."""
        edges = self._edges(boxes)
        w, h = self.size
        low, high = edges.min(axis=1), edges.max(axis=1)
        return (low[:, 0] >= -0.5) & (low[:, 1] >= -0.5) & (high[:, 0] <= w + 0.5) & (high[:, 1] <= h + 0.5)


def encode(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes: compact for scanned pages, and the low qualities are the compression-artefact augmentation."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    return buffer.getvalue()
