; Halt test: the test screen (test_screen in vga.inc) with "HALTED" on
; row 0, then HLT with interrupts disabled for good: nothing can wake the
; CPU, as after Linux's `poweroff -f` without ACPI.

%include "vga.inc"

rom_start
    mov si, banner
    mov ah, 0x1E
    call test_screen
.halt:
    cli
    hlt
    jmp .halt

banner: db "HALTED", 0

rom_end
