"""A randomly initialised, few-thousand-parameter Segment Anything model.

SAM checkpoints cannot be downloaded here; tests and the environment check build this tiny
model from segment-anything's own modules to exercise the real code path. Real use loads a
checkpoint from a user path with ``segment_anything.sam_model_registry[kind](checkpoint=path)``.
"""
import torch


def build_tiny_sam(image_size: int = 64, embed_dim: int = 32, prompt_dim: int = 16):
    """Build a tiny :class:`segment_anything.modeling.Sam` (random weights, eval mode).

    Args:
        image_size (int): Square input size, a multiple of 16 (the patch size).
        embed_dim (int): ViT width.
        prompt_dim (int): Prompt/mask-decoder width.

    Returns:
        segment_anything.modeling.Sam: The model; image embedding is
        ``(prompt_dim, image_size / 16, image_size / 16)``.
    """
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    grid = image_size // 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=image_size, patch_size=16, embed_dim=embed_dim, depth=1, num_heads=2,
            out_chans=prompt_dim, global_attn_indexes=(), window_size=0),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim, image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            transformer_dim=prompt_dim,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=2 * prompt_dim,
                                          num_heads=2),
            num_multimask_outputs=3, iou_head_depth=1, iou_head_hidden_dim=prompt_dim),
    )
    return sam.eval()


@torch.no_grad()
def tiny_sam_point_mask(sam, image_size: int = 64) -> torch.Tensor:
    """Run ``sam`` on a random image with one point prompt; return ``(1, 1, H, W)`` bool masks."""
    image = torch.randint(0, 255, (3, image_size, image_size), dtype=torch.float32)
    prompt = {
        'image': image,
        'original_size': (image_size, image_size),
        'point_coords': torch.tensor([[[image_size / 2, image_size / 2]]]),
        'point_labels': torch.tensor([[1]]),
    }
    return sam([prompt], multimask_output=False)[0]['masks']
