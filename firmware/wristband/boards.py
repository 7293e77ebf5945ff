"""Board profiles: which pins the microphone, LED, button and IMU sit on.

docs/boards.md gives the wiring and the sources for every pin.  A band's
config.json names its board and may override the microphone's pins and
sensitivity.  Sensitivity is in hundredths of a dB (dBFS at 94 dB SPL).
"""

DEFAULT = "esp32-devkitc-inmp441"

PROFILES = {
    # ESP32-DevKitC (WROOM-32) with an INMP441 breakout on I2S0.
    "esp32-devkitc-inmp441": {
        "mic": {"type": "i2s", "sensitivity_cdb": -2600, "pins": {"sck": 26, "ws": 25, "sd": 33}},
        "led": {"pin": 2, "kind": "gpio", "active_low": False},
        "button": 0,  # BOOT
        "imu": None,
        "battery_adc": None,
    },
    # ESP32-S3-DevKitC-1 with an INMP441 breakout; the on-board LED is a WS2812.
    "esp32s3-devkitc-inmp441": {
        "mic": {"type": "i2s", "sensitivity_cdb": -2600, "pins": {"sck": 4, "ws": 5, "sd": 6}},
        "led": {"pin": 48, "kind": "rgb", "active_low": False},
        "button": 0,  # BOOT
        "imu": None,
        "battery_adc": None,
    },
    # M5StickC Plus: SPM1423 PDM microphone, MPU6886 IMU, red LED, button A.
    "m5stickc-plus": {
        "mic": {"type": "pdm", "sensitivity_cdb": -2200, "pins": {"clk": 0, "data": 34}},
        "led": {"pin": 10, "kind": "gpio", "active_low": True},
        "button": 37,
        "imu": {"kind": "mpu6886", "sda": 21, "scl": 22, "addr": 0x68},
        "battery_adc": None,  # behind the AXP192 power chip
    },
    # The music reference at the DJ booth: ESP32-DevKitC with a PCM1808 line-level
    # ADC on the mixer's booth or record output (docs/boards.md, docs/reference.md).
    # A line has no SPL: the sensitivity only sets where a nominal level reads
    # (-18 dBFS reads 96 "dB"); the gateway fits every band's coupling to it.
    "esp32-devkitc-pcm1808": {
        "mic": {"type": "i2s", "sensitivity_cdb": -2000,
                "pins": {"sck": 26, "ws": 25, "sd": 33, "mck": 0}},
        "led": {"pin": 2, "kind": "gpio", "active_low": False},
        "button": None,  # GPIO0 carries the master clock
        "imu": None,
        "battery_adc": None,
    },
    # Seeed XIAO ESP32S3 Sense: MSM261D3526H1CPM PDM microphone on the camera board.
    "xiao-esp32s3-sense": {
        "mic": {"type": "pdm", "sensitivity_cdb": -2600, "pins": {"clk": 42, "data": 41}},
        "led": {"pin": 21, "kind": "gpio", "active_low": True},
        "button": None,
        "imu": None,
        "battery_adc": None,
    },
}
