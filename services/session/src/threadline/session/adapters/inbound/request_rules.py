"""The bounds of every field of the session's gRPC requests, checked by the server kit before
a method runs: ids and numbers as WhatsApp writes them, texts as long as WhatsApp allows. Any
other string field is bounded by the server kit's default."""

from __future__ import annotations

from threadline.contracts.events.v1 import common_pb2 as common_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.media.whatsapp_media import CAPTION_LENGTH, FILE_NAME_LENGTH
from threadline.rules.flow_files import MAX_FLOW_TEXT
from threadline.rules.testchat import MAX_TESTER
from threadline.rules.whatsapp_limits import BUTTON_ID, ROW_TITLE
from threadline.servicekit.validation import RequestRules, Rule, field_rules
from threadline.session.adapters.inbound.file_stream import MAX_CHUNK
from threadline.session.domain.api_token import MAX_NAME as MAX_TOKEN_NAME
from threadline.session.domain.api_token import MAX_NUMBERS as MAX_TOKEN_NUMBERS
from threadline.session.domain.assistant import (
    MAX_KNOWLEDGE_BASES,
    MAX_NUMBERS,
    MAX_PROMPT_CODE_POINTS,
    MAX_TOOLS,
)
from threadline.session.domain.collect_fields import MAX_COLLECT_FIELDS_JSON
from threadline.session.domain.http_tools import MAX_HTTP_TOOLS_JSON
from threadline.session.domain.webhook_subscription import MAX_URL

UUID_TEXT = Rule(64)
PHONE_NUMBER_ID = Rule(64, r"[A-Za-z0-9_-]+", "letters, digits, '_' or '-' (a phone_number_id)")
WA_ID = Rule(32, r"[0-9]+", "digits only (a wa_id: country code and number, no '+')")
TEMPLATE_NAME = Rule(512, r"[a-z0-9_]+", "lowercase letters, digits and '_' (a template name)")
LANGUAGE = Rule(16, r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,4})?", "a language code such as en or pt_BR")
WORD = Rule(32)  # status, author, category, message type
REASON = Rule(1024)
MAX_TEXT = 4096  # a WhatsApp text body
MAX_PAYLOAD_JSON = 16384  # a message type's object (interactive, template with parameters, ...)
RULES: RequestRules = (
    field_rules(
        pb.SendMessageRequest,
        conversation_id=UUID_TEXT,
        idempotency_key=Rule(256),
        author=WORD,
        phone_number_id=PHONE_NUMBER_ID,
        customer_wa_id=WA_ID,
        quoted_message_id=UUID_TEXT,
    )
    | field_rules(
        pb.SendFilesHeader,
        conversation_id=UUID_TEXT,
        phone_number_id=PHONE_NUMBER_ID,
        customer_wa_id=WA_ID,
        text=Rule(MAX_TEXT),
        idempotency_key=Rule(256),
        author=WORD,
        quoted_message_id=UUID_TEXT,
    )
    | field_rules(
        pb.SendTestMessageRequest,
        phone_number_id=PHONE_NUMBER_ID,
        tester=Rule(MAX_TESTER),
        text=Rule(MAX_TEXT),
        reply_id=Rule(BUTTON_ID),  # an option's id (a button's; a list row's is shorter)
        reply_title=Rule(ROW_TITLE),  # an option's title (a list row's; a button's is shorter)
        idempotency_key=Rule(256),
    )
    | field_rules(pb.SendFilesRequest, chunk=Rule(MAX_CHUNK))  # bytes
    | field_rules(
        pb.FileStart,
        file_name=Rule(FILE_NAME_LENGTH),
        content_type=Rule(255),
        caption=Rule(CAPTION_LENGTH),
    )
    | field_rules(
        common_pb.MessageContent,
        type=WORD,
        text=Rule(MAX_TEXT),
        payload_json=Rule(MAX_PAYLOAD_JSON),
    )
    | field_rules(
        pb.UpdateConversationStatusRequest, conversation_id=UUID_TEXT, status=WORD, reason=REASON
    )
    | field_rules(pb.HandOffRequest, conversation_id=UUID_TEXT, reason=REASON)
    | field_rules(pb.ResumeAutopilotRequest, conversation_id=UUID_TEXT)
    | field_rules(pb.SetAutopilotRequest, phone_number_id=PHONE_NUMBER_ID)
    | field_rules(
        pb.RegisterTemplateRequest,
        phone_number_id=PHONE_NUMBER_ID,
        name=TEMPLATE_NAME,
        language=LANGUAGE,
        category=WORD,
        body=Rule(1024),  # a template's body text, as WhatsApp bounds it
    )
    | field_rules(pb.ListTemplatesRequest, phone_number_id=PHONE_NUMBER_ID)
    | field_rules(pb.ReadStreamRequest, stream_id=UUID_TEXT)
    | field_rules(pb.ListAssistantsRequest, phone_number_id=PHONE_NUMBER_ID)
    | field_rules(
        pb.Assistant,
        name=Rule(64, r"[a-z0-9][a-z0-9_-]*", "lowercase letters, digits, '_' or '-'"),
        model=Rule(256),
        system_prompt=Rule(MAX_PROMPT_CODE_POINTS),
        language=LANGUAGE,
        tools=Rule(MAX_TOOLS),  # items
        business_numbers=Rule(MAX_NUMBERS),  # items
        http_tools_json=Rule(MAX_HTTP_TOOLS_JSON),
        knowledge_bases=Rule(MAX_KNOWLEDGE_BASES),  # items
        collect_fields_json=Rule(MAX_COLLECT_FIELDS_JSON),
    )
    | field_rules(pb.ConfigureFlowRequest, definition=Rule(MAX_FLOW_TEXT))
    | field_rules(pb.ListFlowsRequest, phone_number_id=PHONE_NUMBER_ID)
    | field_rules(
        pb.IssueApiTokenRequest,
        name=Rule(MAX_TOKEN_NAME),
        roles=Rule(3),  # items
        numbers=Rule(MAX_TOKEN_NUMBERS),  # items
    )
    | field_rules(pb.RevokeApiTokenRequest, token_id=Rule(64))
    | field_rules(
        pb.WebhookSubscription,
        subscription_id=Rule(64),
        phone_number_id=Rule(64),  # or "*"
        url=Rule(MAX_URL),
        secret_ref=Rule(128),
        events=Rule(64),  # each; the known names are checked by the domain
    )
    | field_rules(pb.ListWebhookSubscriptionsRequest, phone_number_id=Rule(64))
)
