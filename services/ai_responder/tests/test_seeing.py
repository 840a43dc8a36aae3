"""Images are seen (issue 11 item 3): which models see, which of a burst's images they are shown
(the bounds), how the request carries them (the text beside them, the reply tool asking for an
interpretation), what a model that does not see is told, how other media are mentioned, and
the interpretation recorded on the draft. The providers' protocols (OpenAI image parts,
Anthropic image blocks) are tested against local servers through the official SDKs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.hearing import MediaGone
from threadline.ai_responder.application.model_request import (
    IMAGE_TOKENS,
    INTERPRETATION,
    model_request,
    what_the_customer_said,
)
from threadline.ai_responder.application.ports import (
    CUSTOMER,
    History,
    ModelAnswer,
    ModelRequest,
    SaidTurn,
    ToolCall,
    Turn,
    Usage,
)
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.application.seeing import NOT_A_VISION_MODEL, SeeImages, Sight
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.attachment import Attachment
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.vision import DEFAULT_VISION_MODELS, Image, VisionSettings
from threadline.servicekit.config import ConfigError
from threadline.testing.model_servers import AnthropicServer, OpenAIServer, ToolCallAnswer

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 50


def kept(
    name: str = "photo.png",
    *,
    content_type: str = "image/png",
    size: int = len(PNG),
    caption: str = "my broken screen",
    media_type: str = "image",
) -> Attachment:
    return Attachment(
        media_type=media_type,
        content_type=content_type,
        file_name=name,
        caption=caption,
        size=size,
        location=f"file:///media/{name}",
    )


def photo(message_id: str = "m-photo", attachment: Attachment | None = None) -> CustomerMessage:
    attachment = attachment or kept()
    return CustomerMessage(
        message_id, "conv-1", "image", attachment.caption, NOW, attachment=attachment
    )


class Media:
    """The media store as the use case reads it: bytes by location, in memory."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = dict(files)
        self.read: list[str] = []

    async def get(self, location: str) -> bytes:
        self.read.append(location)
        if location not in self.files:
            raise MediaGone(location)
        return self.files[location]


# Which models see.


@pytest.mark.parametrize(
    "model",
    [
        "openai:gpt-4o-mini",
        "openai:gpt-4.1-mini",
        "openai:gpt-5",
        "openai:o3",
        "openai:o4-mini",
        "anthropic:claude-sonnet-4-5",
        "anthropic:claude-3-5-haiku-latest",
        "openai:llava:13b",
        "openai:llama3.2-vision",
        "openai:gemma3:4b",
        "openai:qwen2.5vl:7b",
        "OpenAI:GPT-4o",
    ],
)
def test_current_vision_models_see_by_default(model: str) -> None:
    assert VisionSettings().sees(model)


@pytest.mark.parametrize(
    "model",
    [
        "offline:threadline-offline-1",
        "openai:gpt-3.5-turbo",
        "openai:o3-mini",
        "openai:gpt-4o-audio-preview",
        "openai:llama3.2",
        "openai:mistral",
        "gpt-4o",
    ],
)
def test_models_without_vision_do_not_see(model: str) -> None:
    assert not VisionSettings().sees(model)


def test_the_patterns_are_configured_and_extend_the_default() -> None:
    config = AiResponderConfig.from_env(
        {"THREADLINE_AI_VISION_MODELS": "default, openai:my-vlm-*, !anthropic:claude-3-haiku*"}
    )
    assert config.vision_models[: len(DEFAULT_VISION_MODELS)] == DEFAULT_VISION_MODELS
    assert config.vision.sees("openai:my-vlm-2")
    assert not config.vision.sees("anthropic:claude-3-haiku-20240307")
    assert config.vision.sees("anthropic:claude-sonnet-4-5")
    only = AiResponderConfig.from_env({"THREADLINE_AI_VISION_MODELS": "openai:llava*"})
    assert only.vision.sees("openai:llava:7b") and not only.vision.sees("openai:gpt-4o")
    assert AiResponderConfig.from_env({}).vision == VisionSettings()


def test_the_bounds_are_configured() -> None:
    config = AiResponderConfig.from_env(
        {"THREADLINE_AI_MAX_IMAGES": "2", "THREADLINE_AI_MAX_IMAGE_BYTES": "1000"}
    )
    assert (config.vision.max_images, config.vision.max_bytes) == (2, 1000)
    with pytest.raises(ConfigError, match="THREADLINE_AI_MAX_IMAGES"):
        AiResponderConfig.from_env({"THREADLINE_AI_MAX_IMAGES": "-1"})


# Which images are shown.


async def test_a_vision_model_is_shown_the_kept_image_of_the_burst() -> None:
    media = Media({"file:///media/photo.png": PNG})
    seeing = SeeImages(media=media, settings=VisionSettings())

    sight = await seeing.look([photo()], model="openai:gpt-4.1-mini")

    assert sight == Sight(seen={"m-photo": Image("image/png", PNG)})


async def test_a_model_without_vision_reads_nothing_and_is_told_it_cannot_see() -> None:
    media = Media({"file:///media/photo.png": PNG})
    seeing = SeeImages(media=media, settings=VisionSettings())

    sight = await seeing.look([photo()], model="openai:gpt-3.5-turbo")

    assert sight == Sight(unseen={"m-photo": NOT_A_VISION_MODEL})
    assert media.read == []


async def test_the_bounds_count_type_size_and_keeping() -> None:
    media = Media(
        {
            "file:///media/a.png": PNG,
            "file:///media/b.jpg": JPEG,
            "file:///media/c.png": PNG,
            "file:///media/gone.png": PNG,
            "file:///media/big.png": PNG,
            "file:///media/anim.heic": PNG,
        }
    )
    del media.files["file:///media/gone.png"]
    seeing = SeeImages(media=media, settings=VisionSettings(max_images=2, max_bytes=2000))
    burst = [
        photo("m-heic", kept("anim.heic", content_type="image/heic")),
        photo("m-big", kept("big.png", size=2001)),
        photo("m-lost", Attachment("image", "image/png", "lost.png", failed="HTTP 404")),
        photo("m-late", Attachment("image", "image/png", "late.png")),
        photo("m-gone", kept("gone.png")),
        photo("m-a", kept("a.png")),
        photo("m-b", kept("b.jpg", content_type="image/jpeg; charset=binary", size=len(JPEG))),
        photo("m-c", kept("c.png")),
    ]

    sight = await seeing.look(burst, model="anthropic:claude-sonnet-4-5")

    assert sight.seen == {"m-a": Image("image/png", PNG), "m-b": Image("image/jpeg", JPEG)}
    assert sight.unseen == {
        "m-heic": "image/heic cannot be shown",
        "m-big": "it is too large to show (2 KB)",
        "m-lost": "it could not be kept",
        "m-late": "it did not arrive in time",
        "m-gone": "it is no longer kept",
        "m-c": "only 2 images of a message are shown",
    }


# The request.


def test_a_shown_image_goes_with_its_caption_and_the_reply_asks_what_the_model_sees() -> None:
    image = Image("image/png", PNG)

    request = model_request(photo(), business_prompt="", sight=Sight(seen={"m-photo": image}))

    (turn,) = request.turns
    assert turn.images == (image,)
    assert turn.text == (
        '[the customer sent this image: photo.png (image/png, 1 KB), caption "my broken screen"]'
    )
    reply = request.tools[0]
    assert reply.name == "reply"
    assert INTERPRETATION in reply.parameters["properties"]
    assert INTERPRETATION in reply.parameters["required"]


def test_without_images_the_reply_does_not_ask_for_an_interpretation() -> None:
    request = model_request(photo(), business_prompt="")

    assert INTERPRETATION not in request.tools[0].parameters["properties"]
    assert request.turns[0].images == ()


def test_a_model_that_does_not_see_is_told_honestly() -> None:
    sight = Sight(unseen={"m-photo": NOT_A_VISION_MODEL})

    request = model_request(photo(), business_prompt="", sight=sight)

    (turn,) = request.turns
    assert turn.images == ()
    assert turn.text == (
        "[the customer sent a photo you cannot see (you cannot see images): photo.png "
        '(image/png, 1 KB), caption "my broken screen"]'
    )


def test_only_the_bursts_images_are_shown_those_of_the_history_are_mentioned() -> None:
    old = photo("m-old", kept("old.jpg", content_type="image/jpeg", caption="my car", size=0))
    new = photo()
    history = History(
        turns=(
            SaidTurn("m-old", Turn(CUSTOMER, what_the_customer_said(old))),
            SaidTurn("m-reply", Turn("assistant", "Nice car!")),
            SaidTurn("m-photo", Turn(CUSTOMER, what_the_customer_said(new))),
        )
    )
    image = Image("image/png", PNG)

    request = model_request(
        new, business_prompt="", history=history, sight=Sight(seen={"m-photo": image})
    )

    assert [t.text for t in request.turns[:2]] == [
        '[image: old.jpg (image/jpeg), caption "my car"]',
        "Nice car!",
    ]
    assert [t.images for t in request.turns] == [(), (), (image,)]


def test_an_image_counts_against_the_context_budget() -> None:
    history = History(turns=tuple(SaidTurn(f"m-{n}", Turn(CUSTOMER, "x" * 400)) for n in range(40)))
    image = Image("image/png", PNG)

    without = model_request(photo(), business_prompt="", history=history, max_context_tokens=3000)
    shown = model_request(
        photo(),
        business_prompt="",
        history=history,
        max_context_tokens=3000,
        sight=Sight(seen={"m-photo": image}),
    )

    assert len(without.turns) - len(shown.turns) == IMAGE_TOKENS // 100


@pytest.mark.parametrize(
    ("attachment", "said"),
    [
        (
            Attachment("document", "application/pdf", "invoice.pdf", size=123_400),
            "[the customer sent a document: invoice.pdf (application/pdf, 123 KB)]",
        ),
        (
            Attachment("video", "video/mp4", "clip.mp4", caption="look", size=3_500_000),
            '[the customer sent a video: clip.mp4 (video/mp4, 3.5 MB), caption "look"]',
        ),
        (
            Attachment("sticker", "image/webp", size=812),
            "[the customer sent a sticker: image/webp, 812 bytes]",
        ),
        (
            Attachment("audio", "audio/mpeg", "song.mp3"),
            "[the customer sent an audio: song.mp3 (audio/mpeg)]",
        ),
    ],
)
def test_other_media_are_mentioned_by_name_type_and_size(attachment: Attachment, said: str) -> None:
    message = CustomerMessage(
        "m-1", "conv-1", attachment.media_type, attachment.caption, NOW, attachment=attachment
    )
    assert what_the_customer_said(message) == said


# The interpretation on the draft.


class ScriptedModel:
    name = "openai:gpt-4.1-mini"

    def __init__(self, arguments: Mapping[str, object]) -> None:
        self.arguments = arguments
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        self.requests.append(request)
        return ModelAnswer("", (ToolCall("reply", self.arguments),), Usage(10, 5), self.name, 0.1)

    async def close(self) -> None:
        return None


def responder(model: ScriptedModel) -> Responder:
    return Responder(model, clock=lambda: NOW, stale_after=timedelta(hours=1))


async def test_the_models_interpretation_is_recorded_with_the_reply() -> None:
    model = ScriptedModel(
        {"kind": "text", "text": "Sorry about your screen!", INTERPRETATION: "A cracked\nscreen."}
    )
    sight = Sight(seen={"m-photo": Image("image/png", PNG)})

    answer = await responder(model).answer_burst([photo()], history=History(), sight=sight)

    assert answer.draft is not None
    assert answer.draft.interpretation == "A cracked screen."
    assert model.requests[0].turns[0].images == (Image("image/png", PNG),)


async def test_an_interpretation_is_not_recorded_when_no_image_was_shown() -> None:
    model = ScriptedModel({"kind": "text", "text": "Hi", INTERPRETATION: "made up"})

    answer = await responder(model).answer_burst([photo()], history=History())

    assert answer.draft is not None and answer.draft.interpretation == ""


# The providers' protocols, through the official SDKs against local servers.

SHOWING = ModelRequest(
    system_prompt="You are the assistant of a phone repair shop.",
    turns=(
        Turn("customer", "Hi"),
        Turn("customer", "[the customer sent this image: photo.png]", (Image("image/png", PNG),)),
    ),
)


async def test_openai_gets_an_image_url_part_with_the_bytes_as_a_data_url() -> None:
    async with OpenAIServer() as server:
        server.script(ToolCallAnswer("reply", {"kind": "text", "text": "ok"}))
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        model = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
        try:
            await model.generate(SHOWING)
        finally:
            await model.close()

    messages = server.requests[0].body["messages"]
    assert messages[1] == {"role": "user", "content": "Hi"}
    image_part, text_part = messages[2]["content"]
    assert text_part == {"type": "text", "text": "[the customer sent this image: photo.png]"}
    assert image_part["type"] == "image_url"
    prefix, encoded = image_part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    assert base64.b64decode(encoded) == PNG


async def test_anthropic_gets_an_image_block_with_a_base64_source() -> None:
    async with AnthropicServer() as server:
        server.script(ToolCallAnswer("reply", {"kind": "text", "text": "ok"}))
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-ant-test"}
        model = model_for("anthropic:claude-sonnet-4-5", env, ModelSettings(5.0, 0))
        try:
            await model.generate(SHOWING)
        finally:
            await model.close()

    messages = server.requests[0].body["messages"]
    assert messages[0] == {"role": "user", "content": "Hi"}
    image_block, text_block = messages[1]["content"]
    assert text_block == {"type": "text", "text": "[the customer sent this image: photo.png]"}
    assert image_block["type"] == "image"
    assert image_block["source"]["type"] == "base64"
    assert image_block["source"]["media_type"] == "image/png"
    assert base64.b64decode(image_block["source"]["data"]) == PNG
