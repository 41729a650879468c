"""Which machine a bench file was measured on, so rows from different machines never mix."""
from __future__ import annotations

import glob
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path

from .base import package_version

PACKAGES = ("ai-edge-litert", "onnxruntime", "onnxruntime-gpu", "tensorflow", "tensorflow-cpu", "tf-keras", "numpy")
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}  # Global Unichip before first use, Google after


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def nvidia_gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [f"GPU: {line.strip()}" for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def edge_tpus() -> list[str]:
    found = [f"Edge TPU (PCIe): {p}" for p in sorted(glob.glob("/dev/apex_*"))]
    for device in glob.glob("/sys/bus/usb/devices/*"):
        try:
            ids = (Path(device, "idVendor").read_text().strip(), Path(device, "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in CORAL_USB_IDS:
            found.append(f"Edge TPU (USB): {ids[0]}:{ids[1]}")
    return found


def machine_info(threads: int) -> dict:
    host = socket.gethostname()
    cpu = cpu_model()
    info = {
        "hostname": host,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "accelerators": nvidia_gpus() + edge_tpus(),
        "packages": {p: v for p in PACKAGES if (v := package_version(p))},
        "threads": threads,
    }
    info["label"] = f"{host} ({cpu}, {info['cores']} cores)"
    return info
