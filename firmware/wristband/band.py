"""The band's runtime: privacy gating, the audio loop, reports and commands.

States (printed on the console as they change):
  safe      the config is missing or wrong: microphone off, nothing sent
  clock     waiting for a trustworthy UTC clock (NTP, or a relay beacon)
  waiting   before the event window
  listening inside the window: microphone on, LED on, reports going out
  muted     the wearer pressed the button: microphone off
  over      the gateway said the event is over, or the window has ended
The microphone runs only in `listening`.  Audio lives in one reused buffer
and is never written, sent or printed.  At each id epoch boundary the band
goes quiet for a few random seconds and comes back with a new on-air id, a
new BLE address and a fresh report phase (wristband.rotation).  One loop, no
threads: every pass reads one 10 ms frame (or idles 50 ms when not listening)
and then services the radio, the uplink and the wearer, each only when its
time has come.
"""

import gc
import random
import time

from wristband import packet
from wristband.dsp import FRAME, Pipeline
from wristband.motion import Motion
from wristband.rotation import QUIET, SWITCH, Rotation
from wristband.schedule import FRAME_MS, Advert, Schedule

_IDLE_MS = 50
_READ_MS = 50
_SCAN_EVERY_MS = 30000
_SCAN_MS = 300
_MUTED_HEARTBEAT_MS = 30000
_CLOCK_RETRY_MS = 10000


class Band:
    def __init__(self, cfg, hw, uplink_factory=None):
        self.cfg = cfg
        self.hw = hw
        self.state = ""
        self.muted = False
        self.over = False
        self.interval_ms = cfg.interval_ms
        self.adv_interval_ms = 100
        self.advert = Advert()
        self.sched = Schedule(self._jittered())
        self.pipe = Pipeline(cfg.mic["sensitivity_cdb"])
        self.motion = Motion(4096)
        self.frame = bytearray(2 * FRAME)
        self.seq = random.getrandbits(16)
        self.rotation = Rotation()
        self._sec = -1  # the last whole second of the clock seen, and when (ticks)
        self._sec_at = 0
        self.uplink = None
        if cfg.transport != "ble" and uplink_factory is not None:
            self.uplink = uplink_factory(cfg, self.on_command)
        self.reports = 0
        self.frames = 0
        self.dropped = 0
        # gc.mem_alloc() around the audio path and around the report path,
        # exact byte totals since the last status line; a pass in which the
        # heap shrank had a collection in it, and only allocation causes one
        self.alloc_frames = 0
        self.alloc_bytes = 0
        self.alloc_gc = 0
        self.alloc_reports = 0
        self.alloc_report_bytes = 0
        now = time.ticks_ms()
        self.next_scan = now
        self.next_status = now
        self.next_clock = now
        self.last_sent = now
        self.beacon_seq = -1

    # -- commands --------------------------------------------------------
    def on_command(self, retained_config, data):
        """From the venue: {"interval_ms": n} and/or {"event_over": true} (or {"cmd": ...})."""
        v = data.get("interval_ms")
        if isinstance(v, int) and 10 <= v <= 2550 and v != self.interval_ms:
            self.interval_ms = v
            self.sched.set_interval(self._jittered())
            print("crowdpulse: interval_ms", v)
        a = data.get("adv_interval_ms")
        if isinstance(a, int) and 100 <= a <= 25500 and a != self.adv_interval_ms:
            # many bands share the air: advertise less often (the gateway works out how much);
            # every band hears this at once, so each goes quiet and comes back at a
            # random point of the new interval (schedule.Advert)
            self.adv_interval_ms = a
            if self.advert.rephase(a, random.getrandbits(16)):
                self.hw.advertise_stop()
            print("crowdpulse: adv_interval_ms", a)
        if data.get("event_over") is True or data.get("cmd") == "event_over":
            if not self.over:
                print("crowdpulse: event over")
            self.over = True
        elif retained_config and data.get("event_over") is False:
            self.over = False

    def _beacons(self):
        if self.cfg.command_key is None:
            self.hw.scan_results()
            return
        for payload in self.hw.scan_results():
            try:
                t, interval, flags, seq, adv = packet.decode_beacon(payload, self.cfg.command_key)
            except packet.PacketError:
                continue
            if seq == self.beacon_seq:
                continue
            self.beacon_seq = seq
            if self.hw.now() is None:
                self.hw.set_time(t)
            cmd = {"event_over": bool(flags & packet.CMD_EVENT_OVER)}
            if interval:
                cmd["interval_ms"] = interval
            if adv:
                cmd["adv_interval_ms"] = adv
            self.on_command(True, cmd)

    # -- state -------------------------------------------------------------
    def _jittered(self):
        # +-10 %, so that bands switched on together drift apart on the air
        span = self.interval_ms // 5
        return self.interval_ms - span // 2 + (random.getrandbits(12) % (span + 1) if span else 0)

    def _want_state(self, now_s):
        if not self.cfg.ok:
            return "safe"
        if now_s is None:
            return "clock"
        start, end = self.cfg.window
        if now_s < start:
            return "waiting"
        if now_s >= end or self.over:
            return "over"
        return "muted" if self.muted else "listening"

    def _enter(self, state):
        if state == self.state:
            return
        was = self.state
        self.state = state
        print("crowdpulse: state", state)
        if state == "listening":
            if not self.hw.mic_start():
                print("crowdpulse: microphone unavailable; staying silent")
            self.pipe.finish(10)  # start from a clean interval
            self.sched.elapsed = 0
        elif was == "listening":
            self.hw.mic_stop()
            self.hw.advertise_stop()
            self.advert = Advert()
        self.hw.led(state == "listening")

    # -- reports -------------------------------------------------------------
    def _send(self, codes):
        epoch = self.rotation.epoch
        if epoch < 0:
            return  # quiet: nothing goes out between two identities
        report = packet.encode_codes(self.cfg.key, epoch, self.seq, codes)
        self.seq = (self.seq + 1) & 0xFFFF
        self.reports += 1
        self.last_sent = time.ticks_ms()
        # on BLE the report waits for the band's next advert, and a reaction's
        # onset for a random slot of one interval (schedule.Advert): the whole
        # crowd reacts at once, and the air carries only so many adverts
        if self.cfg.transport != "mqtt":
            adv = packet.adv_payload(report)
            if not codes[10] & packet.FLAG_EVENT:
                self.advert.report(adv, self.adv_interval_ms)
            elif self.advert.event_report(adv, self.adv_interval_ms, random.getrandbits(16)):
                self.hw.advertise_stop()
            self._advertise(0)
        if self.uplink is not None:
            self.uplink.publish(report)

    def _advertise(self, ms):
        if self.rotation.quiet:
            return  # between two identities nothing goes on the air
        adv = self.advert.elapse(ms)
        if adv is not None:
            self.hw.advertise(adv, self.adv_interval_ms)

    def _report(self, ms, event):
        motion, impacts = packet.MOTION_ABSENT, 0
        if self.hw.accel() is not None:
            motion, impacts = self.motion.finish()
        flags = packet.FLAG_EVENT if event else 0
        if self.dropped:
            flags |= packet.FLAG_DROPPED
            self.dropped = 0
        self._send(self.pipe.finish(ms, motion, impacts, self._battery(), flags))
        self.sched.set_interval(self._jittered())

    def _battery(self):
        return packet.battery_code(self.hw.battery())

    def _muted_heartbeat(self):
        # so the venue can tell "muted" from "lost"; carries no sound at all
        if time.ticks_diff(time.ticks_ms(), self.last_sent) >= _MUTED_HEARTBEAT_MS:
            codes = bytearray(packet.N_CODES)
            codes[0] = 100
            codes[8] = packet.MOTION_ABSENT
            codes[10] = (self._battery() << 4) | packet.FLAG_MUTED
            self._send(codes)

    # -- identity ----------------------------------------------------------------
    def _rotate(self, now):
        now_s = self.hw.now()
        if now_s is None or not self.cfg.ok:  # no clock, or no identity at all (safe mode)
            return
        if now_s != self._sec:  # the clock says seconds; ticks give the ms within one
            self._sec = now_s
            self._sec_at = now
        ms = time.ticks_diff(now, self._sec_at)
        epoch = now_s // packet.EPOCH_S
        into_ms = (now_s - epoch * packet.EPOCH_S) * 1000 + (ms if ms < 999 else 999)
        act = self.rotation.step(epoch, into_ms)
        if act == QUIET:
            # silent until the switch; meanwhile hear the relays' beacons, so the
            # new identity starts with the venue's current settings, like every band's
            self.advert = Advert()  # a report of the old identity never airs after this
            self.hw.go_quiet(2 * self.rotation.quiet_ms)
        elif act == SWITCH:
            self.hw.new_address(packet.ble_address(self.cfg.key, self.rotation.epoch))
            # nothing timed runs on from the last identity: a fresh report
            # interval, the next scan and muted heartbeat at random moments
            if self.state == "listening":
                # audio frames tick from the phase the I2S driver started at, and
                # a sniffer times adverts to the microsecond: restart them at a random ms
                self.hw.mic_stop()
                time.sleep_us(random.getrandbits(24) % 10000)
                self.hw.mic_start()
            self.pipe.finish(10)
            if self.hw.accel() is not None:
                self.motion.finish()
            self.sched.elapsed = 0
            self.sched.set_interval(self._jittered())
            self.advert = Advert()
            self.next_scan = time.ticks_add(now, random.getrandbits(24) % _SCAN_EVERY_MS)
            self.last_sent = time.ticks_add(now, -(random.getrandbits(24) % _MUTED_HEARTBEAT_MS))

    # -- the loop --------------------------------------------------------------
    def _listen_once(self):
        a0 = gc.mem_alloc()
        if not self.hw.mic_read(self.frame, _READ_MS):
            return
        self.pipe.process(self.frame)
        acc = self.hw.accel()
        if acc is not None:
            self.motion.sample(acc[0], acc[1], acc[2])
        event = self.pipe.event()
        ms = self.sched.frame(event)
        a1 = gc.mem_alloc()
        self.frames += 1
        if a1 >= a0:
            self.alloc_frames += 1
            self.alloc_bytes += a1 - a0
        else:
            self.alloc_gc += 1
        self._advertise(FRAME_MS)
        if ms:
            self._report(ms, event)
            a2 = gc.mem_alloc()
            if a2 >= a1:  # a report's own allocation may trigger a collection
                self.alloc_reports += 1
                self.alloc_report_bytes += a2 - a1

    def _housekeeping(self):
        now = time.ticks_ms()
        self.hw.feed()
        self.hw.service()
        req = self.hw.mute_request()
        if req is not None:
            self.muted = req
        elif self.hw.button_pressed():
            self.muted = not self.muted
        if self.uplink is not None and self.hw.net_up():
            self.uplink.service()
        self._rotate(now)
        if self.cfg.transport != "mqtt" and time.ticks_diff(now, self.next_scan) >= 0:
            # 15-45 s apart: a fixed period would be a phase that outlives the id
            wait = _SCAN_EVERY_MS // 2 + random.getrandbits(24) % _SCAN_EVERY_MS
            self.next_scan = time.ticks_add(now, wait)
            if not self.rotation.quiet:  # a quiet band is scanning already
                self.hw.scan_start(_SCAN_MS)
        self._beacons()
        due = time.ticks_diff(now, self.next_clock) >= 0
        if self.state == "clock" and self.hw.net_up() and due:
            self.next_clock = time.ticks_add(now, _CLOCK_RETRY_MS)
            self.hw.sync_time(self.cfg.ntp)
        if time.ticks_diff(now, self.next_status) >= 0:
            self.next_status = time.ticks_add(now, self.cfg.status_every_s * 1000)
            self._status()

    def _status(self):
        online = "none" if self.uplink is None else self.uplink.state
        gc.collect()  # so heap_free shows what is really held, and a leak would show
        fails = 0 if self.uplink is None else self.uplink.failures
        print("crowdpulse: status state=%s reports=%d frames=%d dropped=%d mqtt=%s mqtt_fails=%d "
              "heap_free=%d alloc_frames=%d alloc_frame_bytes=%d alloc_frame_gc=%d "
              "alloc_reports=%d alloc_report_bytes=%d"
              % (self.state, self.reports, self.frames, self.dropped, online, fails, gc.mem_free(),
                 self.alloc_frames, self.alloc_bytes, self.alloc_gc, self.alloc_reports,
                 self.alloc_report_bytes))
        self.alloc_bytes = 0
        self.alloc_frames = 0
        self.alloc_gc = 0
        self.alloc_reports = 0
        self.alloc_report_bytes = 0

    def step(self):
        self._enter(self._want_state(self.hw.now()))
        if self.state == "listening":
            self._listen_once()
            self.dropped += self.hw.mic_dropped()
        else:
            if self.state == "muted" and self.cfg.ok:
                self._muted_heartbeat()
            time.sleep_ms(_IDLE_MS)
            self._advertise(_IDLE_MS)
        self._housekeeping()

    def run(self):
        self.hw.start()
        if self.cfg.transport != "ble":
            self.hw.net_start()
        while not self.hw.quit:
            self.step()
        self._enter("over")
        print("crowdpulse: stopped")
