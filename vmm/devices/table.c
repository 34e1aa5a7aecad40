#include "table.h"

#include "legacy.h"
#include "serial.h"
#include "vm.h"

const struct device_ops *const device_table[] = {
    &serial_device, &i8042_device, &boot_timer_device, &blk_device,
    &net_device,    &vsock_device, &rng_device,	       &balloon_device,
};

const size_t device_table_len = sizeof(device_table) / sizeof(device_table[0]);
