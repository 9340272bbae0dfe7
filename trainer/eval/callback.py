"""Field accuracy during training: at each evaluation, a few validation documents are read greedily and scored, and
`eval_field_accuracy` (with the JSON-validity and validation pass rates) is logged beside `eval_loss`."""

from PIL import Image
from transformers import Trainer, TrainerCallback

from trainer.data.tasks import fields_of, is_complete
from trainer.inference import batches, generate

from .scores import aggregate, score_document

LOGGED = ("field_accuracy", "json_valid_rate", "validation_pass_rate", "loop_rate")


class FieldAccuracyCallback(TrainerCallback):
    def __init__(
        self,
        trainer: Trainer,
        documents: list[tuple[list[Image.Image], dict]],
        max_new_tokens: int,
        batch_size: int = 16,
    ):
        self.trainer, self.documents = trainer, documents
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        model = self.trainer.model
        training = model.training
        model.eval()
        outputs = []
        for batch in batches(self.documents, self.batch_size):
            images = [image for image, _ in batch]
            asked = [None if is_complete(truth) else fields_of(truth) for _, truth in batch]  # as training asks
            outputs += generate(model, self.trainer.processing_class, images, "extract", self.max_new_tokens, asked)
        model.train(training)
        result = aggregate(
            [score_document(output, truth) for output, (_, truth) in zip(outputs, self.documents, strict=True)]
        )
        logs = {f"eval_{key}": result[key] for key in LOGGED}
        metrics.update(logs)  # what trainer.evaluate() returns, and so the model card's model-index
        self.trainer.log(logs)  # the log history, the progress bar and the trackers
