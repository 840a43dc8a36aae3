"""The offline `LanguageModel`: answers without any network."""

from __future__ import annotations

import re

from threadline.ai_responder.application.ports import Completion, Prompt
from threadline.ai_responder.domain.policy import asks_for_a_person

GREETING = re.compile(r"^\s*(hi|hello|hey|hola|ol[aá]|good (morning|afternoon|evening))\b", re.I)


class OfflineModel:
    """A greeting for a greeting, an acknowledgement for anything else."""

    name = "threadline-offline-1"

    def complete(self, prompt: Prompt) -> Completion:
        name = prompt.customer_name.split(" ")[0] if prompt.customer_name else "there"
        if prompt.message_type == "text" and asks_for_a_person(prompt.text):
            text = f"Of course, {name}. A member of our team will take it from here."
        elif prompt.message_type == "text" and GREETING.match(prompt.text):
            text = f"Hi {name}! Thanks for writing to us. How can we help you today?"
        elif prompt.message_type == "text":
            text = f"Thanks, {name}. We received your message and will get back to you shortly."
        else:
            text = f"Thanks, {name}. We received your {prompt.message_type}."
        return Completion(
            text=text,
            model=self.name,
            prompt_tokens=len(prompt.text.split()),
            completion_tokens=len(text.split()),
        )
