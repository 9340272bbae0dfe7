"""Make a clean page look scanned or photographed, and move the recorded boxes with it.

Each augmentation has its own probability and a share of pages stays clean. Rotation and perspective are one
homography, so the page is resampled once and the same matrix maps every box. Everything draws from the
sample's own generators: the same (seed, index) gives the same pixels.
"""

import io
import random

import numpy as np
from PIL import Image, ImageFilter

CLEAN = 0.2  # share of pages kept exactly as rendered
PROBABILITIES = {
    "photo": 0.5,
    "rotate": 0.6,
    "perspective": 0.35,
    "blur": 0.3,
    "noise": 0.35,
    "contrast": 0.5,
    "gray": 0.25,
    "jpeg": 0.4,
}
TABLETOPS = [(92, 72, 56), (60, 60, 64), (150, 140, 125), (35, 45, 40), (180, 178, 172)]


def augment(image: Image.Image, rng: random.Random, noise_rng: np.random.Generator, photo: bool):
    """Return the augmented image, a function mapping boxes onto it, the names of what was applied, and the JPEG quality."""
    if rng.random() < CLEAN:
        return image, lambda box: box, [], 92
    applied = [name for name, p in PROBABILITIES.items() if rng.random() < p and (name != "photo" or photo)]
    matrix = np.eye(3)
    if "photo" in applied:  # lay the slip on a tabletop, some of it showing around the paper
        pad = rng.randint(40, 120)
        canvas = Image.new("RGB", (image.width + 2 * pad, image.height + 2 * pad), rng.choice(TABLETOPS))
        canvas.paste(image, (pad, pad))
        image, matrix = canvas, np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], dtype=float)
    if "rotate" in applied or "perspective" in applied:
        homography = _homography(image.size, rng, rotate="rotate" in applied, perspective="perspective" in applied)
        inverse = np.linalg.inv(homography)  # Pillow wants output → input
        fill = image.getpixel((2, 2))
        image = image.transform(
            image.size,
            Image.Transform.PERSPECTIVE,
            (inverse / inverse[2, 2]).flatten()[:8],
            Image.Resampling.BILINEAR,
            fillcolor=fill,
        )
        matrix = homography @ matrix
    if "blur" in applied:
        image = image.filter(_gaussian_kernel(rng.uniform(0.5, 1.1)))
    if "contrast" in applied or "gray" in applied:
        image = _tone(image, rng, gray="gray" in applied)
    if "noise" in applied:
        grain = noise_rng.normal(0, rng.uniform(4, 12), size=(image.height, image.width, 1))
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8))
    quality = rng.randint(30, 65) if "jpeg" in applied else 92
    return image, _box_mapper(matrix, image.size), applied, quality


def _homography(size: tuple[int, int], rng: random.Random, rotate: bool, perspective: bool) -> np.ndarray:
    """Input → output: a small rotation (≤ 1.5°) about the centre and/or the corners nudged by up to 2.5 % of the page."""
    w, h = size
    angle = np.radians(rng.uniform(-1.5, 1.5)) if rotate else 0.0
    cos, sin = np.cos(angle), np.sin(angle)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=float)
    centred = src - (w / 2, h / 2)
    dst = centred @ np.array([[cos, sin], [-sin, cos]]) + (w / 2, h / 2)
    if perspective:
        dst += [(rng.uniform(-1, 1) * 0.025 * w, rng.uniform(-1, 1) * 0.025 * h) for _ in range(4)]
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


def _box_mapper(matrix: np.ndarray, size: tuple[int, int]):
    """Map a box through the homography: the box around its four moved corners, clipped to the image."""
    w, h = size

    def move(box):
        x0, y0, x1, y1 = box
        corners = np.array([(x0, y0, 1), (x1, y0, 1), (x1, y1, 1), (x0, y1, 1)], dtype=float) @ matrix.T
        xs, ys = corners[:, 0] / corners[:, 2], corners[:, 1] / corners[:, 2]
        return max(0, xs.min()), max(0, ys.min()), min(w, xs.max()), min(h, ys.max())

    return move


def encode(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes: compact for scanned pages, and the low qualities are the compression-artefact augmentation."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    return buffer.getvalue()
