"""Mining documents nobody has labelled: read each with the fine-tuned and the base model, keep the ones whose
readings give themselves away, rank them, and hand them to a person with both readings as pre-annotations.

Label-free signals of a reading: no JSON (`invalid_json`, `truncated`), a loop (`repetition`), the schema or its own
arithmetic failing (`schema`, `arithmetic`), the two models disagreeing on at least DISAGREEMENT of the fields either
read (`disagreement`), and a mean token log-probability under LOW_CONFIDENCE (`low_confidence`). The rank is the sum
of the classifier's weights of those kinds, plus 3 × the share of fields in disagreement, plus the negative mean
log-probability: a page the model could not answer comes first.
"""

import base64
import io
import json
from pathlib import Path

from PIL import Image

from trainer.eval.fields import find_prediction
from trainer.eval.normalize import values_match
from trainer.schema.document import get_path, scalar_paths

from .classify import WEIGHTS, classify_errors

DISAGREEMENT = 0.25  # share of fields the two readings differ on
LOW_CONFIDENCE = -0.5  # mean log-probability per token: e^-0.5 ≈ 0.61
PAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".pdf")
LABELING_CONFIG = """<View>
  <Image name="page" value="$image" zoom="true"/>
  <TextArea name="document_json" toName="page" editable="true" rows="20" placeholder="The document's canonical JSON"/>
</View>"""


def disagreement(reading: dict | None, other: dict | None) -> float:
    """The share of the fields either reading holds on which they differ; 1 when one of them is no document (0 when
    neither is: that is no disagreement, and `invalid_json` says it)."""
    if reading is None or other is None:
        return float((reading is None) != (other is None))
    paths = set(scalar_paths(reading)) | set(scalar_paths(other))
    if not paths:
        return 0.0
    differ = sum(not values_match(path, get_path(reading, path), get_path(other, path)) for path in paths)
    return differ / len(paths)


def signals(reading: str, baseline: str, mean_logprob: float | None) -> tuple[list[str], float]:
    """(the label-free kinds a reading shows, its rank score)."""
    kinds = [error.kind for error in classify_errors(reading, None)]
    share = disagreement(find_prediction(reading), find_prediction(baseline))
    if share >= DISAGREEMENT:
        kinds.append("disagreement")
    if mean_logprob is not None and mean_logprob < LOW_CONFIDENCE:
        kinds.append("low_confidence")
    score = sum(WEIGHTS.get(kind, 1) for kind in kinds) + 3 * share + max(0.0, -(mean_logprob or 0.0))
    return kinds, score


def page_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in PAGE_SUFFIXES)


def jpeg(page: Image.Image) -> bytes:
    buffer = io.BytesIO()
    page.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def label_studio_tasks(records: list[dict]) -> list[dict]:
    """Label Studio tasks, most useful first: the page (a data URI), and each model's reading as a prediction to
    correct in the `document_json` text area of LABELING_CONFIG."""
    tasks = []
    for record in sorted(records, key=lambda r: (-r["severity"], r["id"])):
        image = base64.b64encode(record["image"]["bytes"]).decode()
        readings = (("fine-tuned", record["reading"]), ("base", record["baseline_reading"]))
        tasks.append({
            "data": {"image": f"data:image/jpeg;base64,{image}", "document": record["id"],
                     "signals": ", ".join(record["error_kinds"]), "rank_score": record["severity"]},
            "predictions": [
                {"model_version": name, "score": record["severity"],
                 "result": [{"from_name": "document_json", "to_name": "page", "type": "textarea",
                             "value": {"text": [text]}}]}
                for name, text in readings
            ],
        })  # fmt: skip
    return tasks


def write_label_studio(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(label_studio_tasks(records), ensure_ascii=False, indent=1) + "\n")
    path.with_name("label_studio_config.xml").write_text(LABELING_CONFIG + "\n")
    return path
