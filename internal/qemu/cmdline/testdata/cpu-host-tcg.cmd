qemu-system-x86_64 \
  -name 'vm100,debug-threads=on' \
  -chardev 'socket,id=qmp,path=/run/hearth/qemu/100.qmp,server=on,wait=off' \
  -mon 'chardev=qmp,mode=control' \
  -pidfile /run/hearth/qemu/100.pid \
  -daemonize \
  -smp '1,sockets=1,cores=1,maxcpus=1' \
  -nodefaults \
  -boot 'menu=on,strict=on,reboot-timeout=1000' \
  -vnc unix:/run/hearth/qemu/100.vnc \
  -cpu max \
  -m 1024 \
  -device 'piix3-usb-uhci,id=uhci,bus=pci.0,addr=0x1.0x2' \
  -device 'pci-bridge,id=pci.1,chassis_nr=1,bus=pci.0,addr=0x1e' \
  -device 'pci-bridge,id=pci.2,chassis_nr=2,bus=pci.0,addr=0x1f' \
  -device 'usb-tablet,id=tablet,bus=uhci.0,port=1' \
  -device 'VGA,id=vga,bus=pci.0,addr=0x2' \
  -device 'virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x3,free-page-reporting=on' \
  -machine 'type=pc-i440fx-7.2' \
  -accel tcg
# warning: KVM virtualisation is not available on this host; running VM 100 under software emulation (TCG), which is slow
# warning: cpu host needs KVM; using QEMU's max model (all features the emulator has) instead
