"""What `python -m trainer.serve` refuses before vLLM sees it: a chat request to read a document must be JSON, carry
its pages as images, and each image must decode and stay under the server's pixel cap. Each refusal is a 400 with a
one-line message in the OpenAI error shape; the server goes on answering.

`check_request` is an ASGI middleware function (vLLM's `--middleware`); the cap comes from the environment variable
FINSCRIBE_MAX_IMAGE_PIXELS, which the serve command sets.
"""

import base64
import binascii
import io
import json
import os

from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError

CHECKED = {"/v1/chat/completions"}
MAX_IMAGE_PIXELS = 40_000_000  # a 600-dpi A4 scan is 35 million pixels


def image_parts(request: dict) -> list[str]:
    """The `url` of every image part of every message."""
    urls = []
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                urls.append(image.get("url", "") if isinstance(image, dict) else str(image or ""))
    return urls


def problem(request, max_pixels: int) -> str | None:
    """Why a chat request cannot be read as a document, or None."""
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list) or not request["messages"]:
        return "the body must be a JSON chat completion request with messages"
    urls = image_parts(request)
    if not urls:
        return "no page: a message must carry the document as an image_url part (a data: URL of a PNG or JPEG)"
    for number, url in enumerate(urls, start=1):
        if not url.startswith("data:"):
            continue  # an http(s) URL: vLLM fetches it and says what fails
        try:
            data = base64.b64decode(url.partition(",")[2], validate=True)
            with Image.open(io.BytesIO(data)) as image:  # the header only: the size before any pixel is decoded
                width, height = image.size
                if width * height > max_pixels:
                    return (
                        f"image {number} is {width}×{height} = {width * height:,} pixels, over this server's cap of "
                        f"{max_pixels:,}: downscale it first"
                    )
                image.verify()
        except UnidentifiedImageError:
            return f"image {number} is not an image Pillow reads (PNG, JPEG, WebP, TIFF, ...)"
        except Image.DecompressionBombError:  # so large that Pillow would not even open it
            return f"image {number} is over this server's cap of {max_pixels:,} pixels: downscale it first"
        except (binascii.Error, ValueError, OSError, SyntaxError) as error:
            return f"image {number} is not a readable image ({type(error).__name__}: {' '.join(str(error).split())})"
    return None


async def check_request(request, call_next):
    """Refuse, with a 400, a chat completion that is not a readable document; pass every other request on."""
    if request.method == "POST" and request.url.path in CHECKED:
        body = await request.body()  # Starlette keeps it for the endpoint
        try:
            parsed = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):
            parsed = None
        cap = int(os.environ.get("FINSCRIBE_MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS))
        if message := problem(parsed, cap):
            error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
            return JSONResponse({"error": error}, status_code=400)
    return await call_next(request)
