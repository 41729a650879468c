"""The seed's U-Net, written the way the seed writes it: tensorflow.keras under TF 2.21, which is
Keras 3. Run as a script in a process without TF_USE_LEGACY_KERAS; it saves OUT.keras.
Usage: python keras3_seed_unet.py OUT.keras SIZE [train]"""
import sys

import numpy as np
from tensorflow.keras import Model, layers


def seed_unet(size: int) -> Model:
    inputs = layers.Input((size, size, 1))
    c1 = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    c1 = layers.Conv2D(32, 3, activation="relu", padding="same")(c1)
    p1 = layers.MaxPooling2D(2)(c1)
    c2 = layers.Conv2D(64, 3, activation="relu", padding="same")(p1)
    c2 = layers.Conv2D(64, 3, activation="relu", padding="same")(c2)
    p2 = layers.MaxPooling2D(2)(c2)
    c3 = layers.Conv2D(128, 3, activation="relu", padding="same")(p2)
    c3 = layers.Conv2D(128, 3, activation="relu", padding="same")(c3)
    p3 = layers.MaxPooling2D(2)(c3)
    c4 = layers.Conv2D(256, 3, activation="relu", padding="same")(p3)
    c4 = layers.Conv2D(256, 3, activation="relu", padding="same")(c4)
    d4 = layers.Dropout(0.5)(c4)
    u5 = layers.Conv2D(128, 2, activation="relu", padding="same")(layers.UpSampling2D(2)(d4))
    c5 = layers.Conv2D(128, 3, activation="relu", padding="same")(layers.concatenate([c3, u5], axis=3))
    c5 = layers.Conv2D(128, 3, activation="relu", padding="same")(c5)
    u6 = layers.Conv2D(64, 2, activation="relu", padding="same")(layers.UpSampling2D(2)(c5))
    c6 = layers.Conv2D(64, 3, activation="relu", padding="same")(layers.concatenate([c2, u6], axis=3))
    c6 = layers.Conv2D(64, 3, activation="relu", padding="same")(c6)
    u7 = layers.Conv2D(32, 2, activation="relu", padding="same")(layers.UpSampling2D(2)(c6))
    c7 = layers.Conv2D(32, 3, activation="relu", padding="same")(layers.concatenate([c1, u7], axis=3))
    c7 = layers.Conv2D(32, 3, activation="relu", padding="same")(c7)
    return Model(inputs, layers.Conv2D(1, 1, activation="sigmoid")(c7))


if __name__ == "__main__":
    out, size = sys.argv[1], int(sys.argv[2])
    model = seed_unet(size)
    if len(sys.argv) > 3 and sys.argv[3] == "train":
        # Trained outside edgeseg, as a user would, on edgeseg's synthetic data (numpy only).
        from edgeseg.data.synthetic import synth_sample

        pairs = [synth_sample(size, size, i, seed=0) for i in range(160)]
        x = np.stack([p[0] for p in pairs]).astype("float32") / 255.0
        y = np.stack([p[1] for p in pairs])[..., None].astype("float32")
        model.compile("adam", "binary_crossentropy")
        model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    model.save(out)
