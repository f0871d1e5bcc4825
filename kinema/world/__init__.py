"""The procedural world: scenes of coloured shapes, their exact motion, frames and captions."""

from kinema.world.captions import all_phrasings, describe, max_caption_words, vocabulary
from kinema.world.dataset import WorldDataset, WorldSample, sample_scene
from kinema.world.motion import object_centre, object_radius_px
from kinema.world.render import render
from kinema.world.scene import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    GRAVITY_MOTIONS,
    HELDOUT_PAIRS,
    HELDOUT_SHAPE_MOTIONS,
    MOTIONS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
    SPEEDS,
    Scene,
    WorldObject,
    is_heldout,
)

__all__ = [
    "BACKGROUND_COLOURS",
    "DIRECTIONS",
    "GRAVITY_MOTIONS",
    "HELDOUT_PAIRS",
    "HELDOUT_SHAPE_MOTIONS",
    "MOTIONS",
    "OBJECT_COLOURS",
    "SHAPES",
    "SIZES",
    "SPEEDS",
    "Scene",
    "WorldDataset",
    "WorldObject",
    "WorldSample",
    "all_phrasings",
    "describe",
    "is_heldout",
    "max_caption_words",
    "object_centre",
    "object_radius_px",
    "render",
    "sample_scene",
    "vocabulary",
]
