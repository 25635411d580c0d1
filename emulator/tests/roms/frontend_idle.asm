; An idle guest: the PIT interrupts at 100 Hz (IRQ 0 through the 8259A),
; the CPU halts between ticks, and after 50 ticks (half a second of guest
; time) the ROM exits through port 0xF4 (status 0x27). Unthrottled, oxbox
; skips the halted time; with --realtime it takes half a second.

%include "vga.inc"
cpu 386

TICKS equ 0x500

rom_start
    xor ax, ax
    mov es, ax
    mov word [es:TICKS], 0
    ; IRQ 0 -> vector 0x08 (the PC's usual base).
    mov word [es:0x08 * 4], timer - 0
    mov word [es:0x08 * 4 + 2], cs
    ; 8259A master: ICW1 (edge, cascade, ICW4), ICW2 base 0x08, ICW3
    ; slave on IR2, ICW4 8086 mode; then only IR0 unmasked.
    mov al, 0x11
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xFE
    out 0x21, al
    ; 8254 counter 0, mode 2, divisor 11932 (1.193182 MHz / 100).
    mov al, 0x34
    out 0x43, al
    mov ax, 11932
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
.wait:
    hlt
    cmp word [es:TICKS], 50
    jb .wait
    exit_with 0x13

timer:
    inc word [es:TICKS]
    push ax
    mov al, 0x20                ; non-specific EOI
    out 0x20, al
    pop ax
    iret

rom_end
