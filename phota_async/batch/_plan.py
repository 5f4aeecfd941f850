"""What a batch does: any studio calls (:class:`ImageTask`), or a headshot pipeline
(:class:`HeadshotPlan`: each :class:`Person` trained once, then rendered in each :class:`Style`).

Everything here is checked when it is built, so that a bad prompt, name or folder fails with
:class:`InvalidInputError` before anything is sent or paid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from attrs import field, frozen

from .._exceptions import InvalidInputError
from .._photos.inputs import ImageInput
from .._wire import validation as check
from .._wire.enums import TrainingTier
from .._wire.pricing import image_cents, is_estimate, training_cents
from ._ids import check_name, path_part

__all__ = ["PERSON_REF", "Endpoint", "HeadshotPlan", "ImageTask", "Person", "Style",
           "find_people"]

Endpoint = Literal["generate", "edit", "enhance", "remix"]
PERSON_REF = "[[person]]"
# Photos a person's folder may hold (by extension; the pre-flight then checks the content).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})
_ENDPOINTS = ("generate", "edit", "enhance", "remix")
_WELL_FORMED_REF = re.compile(r"\[\[[^\[\]]*\]\]")
# The batch sets these itself: an item's id must stay the same on every run.
_BATCH_OWNED = frozenset({"client_request_id", "mode"})


def check_references(prompt: object, field: str) -> str:
    """A prompt whose ``[[...]]`` references are each closed and not empty."""
    text = str(check.prompt(prompt, field))
    if "[[" in _WELL_FORMED_REF.sub("", text) or "]]" in _WELL_FORMED_REF.sub("", text):
        raise InvalidInputError(field, f"{text!r} has a malformed [[...]] reference",
                                allowed="[[profile_id]] or, in a style, [[person]]")
    return text


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _people(value: Iterable[Person]) -> tuple[Person, ...]:
    return tuple(value)


def _styles(value: Iterable[Style]) -> tuple[Style, ...]:
    return tuple(value)


def _tier(value: TrainingTier | str) -> TrainingTier:
    return check.enum_value(value, TrainingTier, "tier")


def _named(field_name: str) -> Any:
    def validate(_: object, __: object, value: object) -> None:
        check_name(value, field_name)
    return validate


@frozen
class ImageTask:
    """One studio call of a batch: ``endpoint`` called with ``arguments`` (its keyword
    arguments: ``prompt``, ``images``, ``profile_ids``, ``num_output_images``...).

    ``key`` names the item for good: unique in the batch and the same on every run, it makes
    the request's ``client_request_id`` (a re-run gets the original job back) and its file
    names (``a/b`` saves ``a/b-0.jpg``...). Build one with :meth:`generate` and friends.
    """

    key: str
    endpoint: Endpoint
    arguments: Mapping[str, Any] = field(converter=_frozen_mapping)

    def __attrs_post_init__(self) -> None:
        for part in self.key.split("/") if isinstance(self.key, str) else [self.key]:
            check_name(part, "key")
        if self.endpoint not in _ENDPOINTS:
            raise InvalidInputError("endpoint", f"{self.endpoint!r} is not a studio call",
                                    allowed=", ".join(_ENDPOINTS))
        owned = _BATCH_OWNED & set(self.arguments)
        if owned:
            raise InvalidInputError(sorted(owned)[0], "is set by the batch (the same on every "
                                    "run), not by a task")
        if self.arguments.get("prompt") is not None or self.endpoint in ("generate", "edit"):
            check_references(self.arguments.get("prompt"), f"{self.key}: prompt")

    @classmethod
    def generate(cls, key: str, prompt: str, **options: Any) -> ImageTask:
        """A ``phota.generate(prompt, **options)`` item."""
        return cls(key, "generate", {"prompt": prompt, **options})

    @classmethod
    def edit(cls, key: str, prompt: str, images: Sequence[ImageInput], **options: Any
             ) -> ImageTask:
        """A ``phota.edit(prompt, images, **options)`` item."""
        return cls(key, "edit", {"prompt": prompt, "images": images, **options})

    @classmethod
    def enhance(cls, key: str, image: ImageInput, **options: Any) -> ImageTask:
        """A ``phota.enhance(image, **options)`` item."""
        return cls(key, "enhance", {"image": image, **options})

    @classmethod
    def remix(cls, key: str, input_image: ImageInput, reference_image: ImageInput,
              **options: Any) -> ImageTask:
        """A ``phota.remix(input_image, reference_image, **options)`` item."""
        return cls(key, "remix", {"input_image": input_image,
                                  "reference_image": reference_image, **options})

    @property
    def cost_cents(self) -> int:
        """The price table's figure for this call, in cents."""
        args = self.arguments
        identity = bool(args.get("profile_ids")) or bool(
            check.prompt_profile_refs(args.get("prompt")))
        return image_cents(self.endpoint, args.get("base_model"),
                           int(args.get("num_output_images", 1)), with_identity=identity)

    @property
    def estimated(self) -> bool:
        """True when the docs give no price for this call (the figure is a guess)."""
        return is_estimate(self.endpoint, self.arguments.get("base_model"))


def _photo_tuple(photos: Iterable[ImageInput]) -> tuple[ImageInput, ...]:
    if isinstance(photos, str | bytes | os.PathLike):
        raise InvalidInputError("photos", "must be a list of photos")
    return tuple(photos)


@frozen
class Person:
    """One subject of a headshot batch: a ``name`` (its key, its output folder, part of its
    profile tag) and its training ``photos``."""

    name: str = field(validator=_named("person"))
    photos: tuple[ImageInput, ...] = field(converter=_photo_tuple)


@frozen
class Style:
    """One look: ``name`` (its key and file names) and a ``prompt`` that names the person as
    ``[[person]]`` (replaced by their profile id); other ``[[profile_id]]`` pass through.

    The name makes each request's ``client_request_id``: a re-run of the batch gets the job
    first sent under that name back, so give a changed prompt a new name."""

    name: str = field(validator=_named("style"))
    prompt: str

    def __attrs_post_init__(self) -> None:
        check_references(self.prompt, f"style {self.name!r}")
        if PERSON_REF not in self.prompt:
            raise InvalidInputError(f"style {self.name!r}", "must name the person as [[person]]",
                                    allowed="a prompt such as 'Studio headshot of [[person]]'")

    def prompt_for(self, profile_id: str) -> str:
        """The prompt with the person's profile id in place of ``[[person]]``."""
        return self.prompt.replace(PERSON_REF, f"[[{profile_id}]]")


def _unique(names: Iterable[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        folded = path_part(name).casefold()
        if folded in seen:
            raise InvalidInputError(what, f"{seen[folded]!r} and {name!r} would share files",
                                    allowed="names that differ in more than case and symbols")
        seen[folded] = name


@frozen
class HeadshotPlan:
    """A headshot pipeline: every person's profile trained once (found again by its tag on a
    re-run), then every style generated for every person.

    ``options`` are more keyword arguments of ``phota.generate`` (``base_model``,
    ``aspect_ratio``, ``resolution``, ``quality``, ``output_format``).
    """

    people: tuple[Person, ...] = field(converter=_people)
    styles: tuple[Style, ...] = field(converter=_styles)
    tier: TrainingTier = field(default=TrainingTier.STANDARD, converter=_tier)
    num_output_images: int = 1
    options: Mapping[str, Any] = field(factory=dict, converter=_frozen_mapping)

    def __attrs_post_init__(self) -> None:
        if not self.people or not self.styles:
            raise InvalidInputError("people" if not self.people else "styles", "is empty")
        _unique((p.name for p in self.people), "people")
        _unique((s.name for s in self.styles), "styles")
        owned = (_BATCH_OWNED | {"prompt", "num_output_images"}) & set(self.options)
        if owned:
            raise InvalidInputError(sorted(owned)[0], "is set by the plan, not by options")
        check.int_in_range(self.num_output_images, 1, 4, "num_output_images")

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], styles: Sequence[Style],
                    **options: Any) -> HeadshotPlan:
        """A plan for every person of :func:`find_people` (``folder``) in ``styles``."""
        return cls(find_people(folder), styles, **options)

    def image_task(self, person: Person, style: Style, profile_id: str) -> ImageTask:
        """The generate call that renders ``person`` in ``style``."""
        return ImageTask.generate(f"{person.name}/{style.name}", style.prompt_for(profile_id),
                                  num_output_images=self.num_output_images, **self.options)

    @property
    def training_cents(self) -> int:
        """One person's training, in cents."""
        return training_cents(self.tier)

    @property
    def image_cents(self) -> int:
        """One style of one person, in cents (with identity: the person is named)."""
        return image_cents("generate", self.options.get("base_model"), self.num_output_images,
                           with_identity=True)


def find_people(folder: str | os.PathLike[str]) -> tuple[Person, ...]:
    """One :class:`Person` per sub-folder of ``folder`` (its name), with the photos in it
    (files named .jpg, .jpeg, .png, .webp, .heic or .heif; hidden ones are ignored)."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError("people", f"{root} is not a folder",
                                allowed="a folder with one sub-folder of photos per person")
    people = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(f for f in sub.iterdir()
                        if f.is_file() and not f.name.startswith(".")
                        and f.suffix.lower() in PHOTO_SUFFIXES)
        people.append(Person(sub.name, photos))
    if not people:
        raise InvalidInputError("people", f"{root} has no sub-folder",
                                allowed="one sub-folder of photos per person")
    return tuple(people)

