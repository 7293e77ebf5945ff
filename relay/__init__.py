"""The relay: hears band adverts over BLE (bleak) and batches them to MQTT."""
