"""Pseudo-fakes synthesised from real faces, with the manipulated mask kept.

Three families, each returning a :class:`Synthetic` (image + mask in [0, 1]):

- ``self_blend``: a face blended with a slightly transformed copy of itself through a
  landmark mask (Shiohara & Yamasaki, CVPR 2022). Only the blending artefacts remain,
  which are common to almost every face manipulation.
- ``face_swap``: another identity's face warped onto the target by its landmarks,
  colour-matched and blended (the graphics-based family of FaceForensics++ FaceSwap).
- ``reenact``: the mouth and jaw moved by a landmark-driven piecewise-affine warp (the
  expression-reenactment family of Face2Face / NeuralTextures).

The mask says where pixels were changed, so explanations can be checked against it.
"""

from .pseudo import Synthetic, face_swap, reenact, self_blend, SYNTHESIZERS

__all__ = ["Synthetic", "self_blend", "face_swap", "reenact", "SYNTHESIZERS"]
