"""The C kernel; everything else about the distribution is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lightning_encoder_native._kernel",
            sources=[
                "lightning_encoder_native/_kernel.c",
                "lightning_encoder_native/codec.c",
            ],
            depends=["lightning_encoder_native/codec.h"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
