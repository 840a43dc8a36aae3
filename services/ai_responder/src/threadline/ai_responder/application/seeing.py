"""Use case: the images of a burst are shown to a model that sees (issue 11 item 3).

Before a burst is answered, the kept images of its own messages (not of the history) are read
from the media store, within the bounds of `VisionSettings` (which models, how many images, which
types and sizes). What a model is not shown is said in words instead (application/
model_request.py): to a model that does not see, that the customer sent a photo it cannot see;
to one that does, why this one is not shown (not kept, too large, a type it cannot take)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from threadline.ai_responder.application.hearing import MediaGone, MediaReader
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.vision import Image, VisionSettings

log = logging.getLogger(__name__)

NOT_A_VISION_MODEL: Final = "you cannot see images"


@dataclass(frozen=True, slots=True)
class Sight:
    """What the model is shown of a burst's images: `seen` by message id, and for the images it
    is not shown, why (`unseen`, by message id)."""

    seen: Mapping[str, Image] = field(default_factory=dict)
    unseen: Mapping[str, str] = field(default_factory=dict)


NO_SIGHT: Final = Sight()


class SeeImages:
    def __init__(self, *, media: MediaReader, settings: VisionSettings) -> None:
        self._media = media
        self._settings = settings

    async def look(self, messages: Sequence[CustomerMessage], *, model: str) -> Sight:
        """The burst's images `model` (`provider:model`) is shown, oldest first, at most the
        configured number. A store out of reach raises (the burst is answered again soon)."""
        images = [
            (m.message_id, m.attachment)
            for m in messages
            if m.type == "image" and m.attachment is not None
        ]
        if not images:
            return NO_SIGHT
        if not self._settings.sees(model):
            return Sight(unseen={message_id: NOT_A_VISION_MODEL for message_id, _ in images})
        seen: dict[str, Image] = {}
        unseen: dict[str, str] = {}
        for message_id, attachment in images:
            if why := self._settings.why_not_shown(attachment):
                unseen[message_id] = why
                continue
            if len(seen) >= self._settings.max_images:
                unseen[message_id] = (
                    f"only {self._settings.max_images} images of a message are shown"
                )
                continue
            try:
                data = await self._media.get(attachment.location)
            except MediaGone as gone:
                log.warning("image of message %s is gone: %s", message_id, gone)
                unseen[message_id] = "it is no longer kept"
                continue
            if len(data) > self._settings.max_bytes:  # the record understated it
                unseen[message_id] = "it is too large to show"
                continue
            content_type = attachment.content_type.split(";")[0].strip().lower()
            seen[message_id] = Image(content_type, data)
        return Sight(seen=seen, unseen=unseen)
