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
  -cpu kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep \
  -m 1024 \
  -device 'piix3-usb-uhci,id=uhci,bus=pci.0,addr=0x1.0x2' \
  -device 'pci-bridge,id=pci.1,chassis_nr=1,bus=pci.0,addr=0x1e' \
  -device 'pci-bridge,id=pci.2,chassis_nr=2,bus=pci.0,addr=0x1f' \
  -device 'usb-tablet,id=tablet,bus=uhci.0,port=1' \
  -device 'VGA,id=vga,bus=pci.0,addr=0x2' \
  -device 'virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x3,free-page-reporting=on' \
  -device 'pvscsi,id=scsihw0,bus=pci.0,addr=0x5' \
  -blockdev '{"driver":"qcow2","node-name":"drive-scsi0","cache":{"direct":true,"no-flush":false},"detect-zeroes":"on","file":{"driver":"file","node-name":"file-scsi0","aio":"io_uring","cache":{"direct":true,"no-flush":false},"filename":"/var/lib/vz/images/100/vm-100-disk-0.qcow2"}}' \
  -device 'scsi-hd,bus=scsihw0.0,scsi-id=0,drive=drive-scsi0,id=scsi0,bootindex=100,write-cache=on' \
  -blockdev '{"driver":"qcow2","node-name":"drive-scsi1","cache":{"direct":true,"no-flush":false},"detect-zeroes":"on","file":{"driver":"file","node-name":"file-scsi1","aio":"io_uring","cache":{"direct":true,"no-flush":false},"filename":"/var/lib/vz/images/100/vm-100-disk-1.qcow2"}}' \
  -device 'scsi-hd,bus=scsihw0.0,scsi-id=1,drive=drive-scsi1,id=scsi1,write-cache=on' \
  -device 'scsi-cd,bus=scsihw0.0,scsi-id=9,id=scsi9,bootindex=200' \
  -machine 'type=pc-i440fx-7.2' \
  -accel kvm
# warning: scsi1: iothread only works with scsihw virtio-scsi-single; ignored
# warning: scsi1: queues only works with scsihw virtio-scsi-single; ignored
