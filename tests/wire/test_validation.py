"""Local checks, before anything is sent: each names the field and says what is allowed."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phota_async import InvalidInputError, PhotaError
from phota_async._wire import validation as check
from phota_async._wire.enums import (
    AspectRatio,
    BaseModel,
    OutputFormat,
    Quality,
    Resolution,
    ResponseMode,
    TrainingTier,
)

# Timing varies on a loaded machine; correctness, not speed, is under test here.
NO_DEADLINE = settings(deadline=None)

ENUMS = [AspectRatio, BaseModel, OutputFormat, Quality, Resolution, ResponseMode, TrainingTier]
CRID_ALPHABET = string.ascii_letters + string.digits + "._:-"

# phota-api.md section 3: what each base model renders.
MODEL_TABLE = {
    "nb2": {"1K", "2K", "4K"},
    "gpt-image-2": {"1K", "2K", "4K"},
    "qwen-image-2": {"1K", "2K"},
    "flux-2": {"1K", "2K"},
    "reve": {"1K"},
}


def test_invalid_input_error_is_a_phota_error_and_a_value_error() -> None:
    exc = InvalidInputError("resolution", "bad", allowed="'1K'")
    assert isinstance(exc, PhotaError) and isinstance(exc, ValueError)
    assert str(exc) == "resolution: bad (allowed: '1K')"


# --- Enums


@pytest.mark.parametrize("enum", ENUMS)
def test_enum_members_and_their_strings_are_accepted(enum: type) -> None:
    for member in enum:
        assert check.enum_value(member, enum, "field") is member
        assert check.enum_value(member.value, enum, "field") is member


@pytest.mark.parametrize("enum", ENUMS)
@pytest.mark.parametrize("bad", ["nope", "", 3, None, 2.0, b"png", ["1K"]])
def test_a_bad_enum_value_names_the_field_and_lists_the_values(enum: type, bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.enum_value(bad, enum, "my_field")
    assert info.value.field == "my_field"
    assert str(info.value).startswith("my_field:")
    for member in enum:
        assert repr(member.value) in str(info.value)


def test_enum_values_are_case_sensitive_like_the_wire() -> None:
    with pytest.raises(InvalidInputError) as info:
        check.enum_value("4k", Resolution, "resolution")
    assert "'1K', '2K', '4K'" in str(info.value)


def test_optional_enum() -> None:
    assert check.optional_enum(None, Quality, "quality") is None
    assert check.optional_enum("high", Quality, "quality") is Quality.HIGH
    with pytest.raises(InvalidInputError) as info:
        check.optional_enum("ultra", Quality, "quality")
    assert info.value.field == "quality"


# --- Integers and counts


@pytest.mark.parametrize("value", [1, 2, 3, 4])
def test_num_output_images_in_range(value: int) -> None:
    assert check.int_in_range(value, 1, 4, "num_output_images") == value


@pytest.mark.parametrize("value", [0, 5, -1, 100])
def test_num_output_images_out_of_range(value: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.int_in_range(value, 1, 4, "num_output_images")
    assert info.value.field == "num_output_images"
    assert info.value.allowed == "1..4"
    assert "1..4" in str(info.value)


@pytest.mark.parametrize("value", [True, False, 2.0, "2", None])
def test_bool_float_and_str_are_refused_for_ints(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.int_in_range(value, 1, 4, "num_output_images")
    assert info.value.field == "num_output_images"
    assert "integer" in str(info.value)


@NO_DEADLINE
@given(st.integers(-50, 50))
def test_int_in_range_property(value: int) -> None:
    if 1 <= value <= 10:
        assert check.int_in_range(value, 1, 10, "n") == value
    else:
        with pytest.raises(InvalidInputError):
            check.int_in_range(value, 1, 10, "n")


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (10, True), (11, False)])
def test_edit_image_count(count: int, ok: bool) -> None:
    images = ["aGk="] * count
    if ok:
        check.count_in_range(images, 1, 10, "images")
    else:
        with pytest.raises(InvalidInputError) as info:
            check.count_in_range(images, 1, 10, "images")
        assert info.value.field == "images"
        assert "1..10" in str(info.value) and f"got {count}" in str(info.value)


# --- Model options


@pytest.mark.parametrize("model", list(BaseModel))
@pytest.mark.parametrize("resolution", list(Resolution))
def test_resolution_per_model(model: BaseModel, resolution: Resolution) -> None:
    supported = MODEL_TABLE[model.value]
    if resolution.value in supported:
        check.model_options(model, resolution, None)
        return
    with pytest.raises(InvalidInputError) as info:
        check.model_options(model, resolution, None)
    assert info.value.field == "resolution"
    text = str(info.value)
    assert model.value in text and resolution.value in text
    for allowed in supported:
        assert repr(allowed) in (info.value.allowed or "")
    for refused in set(MODEL_TABLE["nb2"]) - supported:
        assert repr(refused) not in (info.value.allowed or "")


@pytest.mark.parametrize("resolution", list(Resolution))
def test_default_model_is_nb2_for_resolution(resolution: Resolution) -> None:
    check.model_options(None, resolution, None)  # nb2 takes all three


@pytest.mark.parametrize("quality", list(Quality))
def test_quality_with_gpt_image_2(quality: Quality) -> None:
    check.model_options(BaseModel.GPT_IMAGE_2, Resolution.R4K, quality)


@pytest.mark.parametrize("model", [None, *[m for m in BaseModel if m is not BaseModel.GPT_IMAGE_2]])
def test_quality_refused_with_any_other_model(model: BaseModel | None) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.model_options(model, None, Quality.HIGH)
    assert info.value.field == "quality"
    assert "gpt-image-2" in str(info.value)
    assert (model or BaseModel.NB2).value in str(info.value)


# --- callback_url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/phota",
        "https://hooks.example.com:8443/phota?x=1",
        "HTTPS://hooks.example.com/phota",
        "http://localhost:8080/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.2:9000/cb",
        "http://[::1]:9000/cb",
    ],
)
def test_callback_url_accepted(url: str) -> None:
    assert check.callback_url(url) == url


def test_callback_url_none_is_not_sent() -> None:
    assert check.callback_url(None) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/phota",
        "http://localhost.evil.example/cb",
        "http://10.0.0.1/cb",
        "http://192.168.1.5/cb",
        "ftp://hooks.example.com/cb",
        "hooks.example.com/cb",
        "https://",
        "https:///path-only",
        "",
        "javascript:alert(1)",
    ],
)
def test_callback_url_refused(url: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.callback_url(url)
    assert info.value.field == "callback_url"
    assert "https" in (info.value.allowed or "")


@pytest.mark.parametrize("value", [42, b"https://x.example", ["https://x.example"]])
def test_callback_url_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.callback_url(value)
    assert info.value.field == "callback_url"


# --- client_request_id


@NO_DEADLINE
@given(st.text(alphabet=CRID_ALPHABET, min_size=1, max_size=128))
def test_client_request_id_accepted(value: str) -> None:
    assert check.client_request_id(value) == value


@NO_DEADLINE
@given(
    st.text(alphabet=CRID_ALPHABET, max_size=60),
    st.characters().filter(lambda c: c not in CRID_ALPHABET),
    st.text(alphabet=CRID_ALPHABET, max_size=60),
)
def test_client_request_id_refuses_other_characters(head: str, bad: str, tail: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.client_request_id(head + bad + tail)
    assert info.value.field == "client_request_id"
    assert "[A-Za-z0-9._:-]" in str(info.value)
    assert "128" in str(info.value)


@pytest.mark.parametrize("value", ["a" * 129, "", "x" * 500, "abc\n", 123, b"abc"])
def test_client_request_id_length_and_type(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.client_request_id(value)
    assert info.value.field == "client_request_id"


def test_client_request_id_boundaries() -> None:
    assert check.client_request_id("a" * 128) == "a" * 128
    assert check.client_request_id("x") == "x"
    assert check.client_request_id(None) is None
    assert check.client_request_id("user-42:job.7_A") == "user-42:job.7_A"


# --- tag


@NO_DEADLINE
@given(st.text(min_size=1, max_size=128))
def test_tag_of_1_to_128_characters(value: str) -> None:
    assert check.tag(value) == value


@pytest.mark.parametrize("value", ["", "t" * 129, 42, ["user"]])
def test_tag_refused(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.tag(value)
    assert info.value.field == "tag"
    assert "1..128" in str(info.value)


def test_tag_none_is_not_sent() -> None:
    assert check.tag(None) is None


# --- Photo counts per tier


@pytest.mark.parametrize(
    ("tier", "low", "high"), [(TrainingTier.FAST, 5, 10), (TrainingTier.STANDARD, 10, 50)]
)
def test_photo_counts_per_tier(tier: TrainingTier, low: int, high: int) -> None:
    for count in range(0, 60):
        if low <= count <= high:
            check.photo_count(count, tier)
            continue
        with pytest.raises(InvalidInputError) as info:
            check.photo_count(count, tier)
        assert info.value.field == "photos"
        text = str(info.value)
        assert f"got {count} photo" in text
        assert f"{low}..{high}" in text and tier.value in text


# --- Prompts and profile ids


@pytest.mark.parametrize("value", ["", "   ", None, 42])
def test_prompt_required(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.prompt(value)
    assert info.value.field == "prompt"


def test_prompt_optional() -> None:
    assert check.prompt(None, required=False) is None
    assert check.prompt("make it blue", required=False) == "make it blue"


def test_profile_ids() -> None:
    assert check.profile_ids(None) is None
    assert check.profile_ids(("p1", "p2")) == ["p1", "p2"]
    with pytest.raises(InvalidInputError) as info:
        check.profile_ids("p1")
    assert info.value.field == "profile_ids"


@pytest.mark.parametrize("bad", ["", "  ", "[[p2]]", 7, None])
def test_a_bad_profile_id_is_named_by_index(bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.profile_ids(["p1", bad])
    assert info.value.field == "profile_ids[1]"


def test_prompt_profile_refs() -> None:
    assert check.prompt_profile_refs("Studio headshot of [[p1]] with [[p2]]") == ["p1", "p2"]
    assert check.prompt_profile_refs(None) == []
    with pytest.raises(InvalidInputError) as info:
        check.prompt_profile_refs("A photo of [[ ]]")
    assert info.value.field == "prompt"


# --- Ids in URL paths


@pytest.mark.parametrize("value", ["", "a/b", ".", "..", None, 12])
def test_resource_id_refuses_path_breaking_ids(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check.resource_id(value, "profile_id")
    assert info.value.field == "profile_id"


def test_resource_id_accepts_ordinary_ids() -> None:
    assert check.resource_id("prof_01HZX-abc.9", "profile_id") == "prof_01HZX-abc.9"


@pytest.mark.parametrize("value", ["p1?x=1", "p1#frag"])
def test_resource_id_refuses_query_and_fragment_characters(value: str) -> None:
    with pytest.raises(InvalidInputError):
        check.resource_id(value, "profile_id")
