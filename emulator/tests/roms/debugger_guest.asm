; The debugger test guest (emulator/tests/debugger.rs): a 64 KiB ROM at
; F000:0000 that runs without a BIOS, in real mode. Its labels sit at
; fixed offsets (the `times` lines fail to assemble if code outgrows
; them), so the test can name them:
;   F000:0040  add ax, bx          the breakpoint; AX=1234h, BX=5678h there
;   F000:0042  mov [0x500], ax     the write a `watch w 0x500 2` sees
;   F000:0060  out 0x80, al        AL=42h: an `iob 0x80` stop
;   F000:0070  ud2                 #UD (vector 6): an `int 6` stop; the
;                                  handler at F000:00A0 skips it
; and the guest ends through the exit port with status (0 << 1) | 1 = 1.

cpu 686
bits 16
org 0

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [6 * 4], ud_handler
    mov word [6 * 4 + 2], 0xF000
    mov ax, 0x1234
    mov bx, 0x5678
    times 0x40 - ($ - $$) nop
bp_here:                            ; F000:0040
    add ax, bx
    mov [0x500], ax
    mov cx, 3
.count:
    inc word [0x502]
    loop .count
    mov al, 0x42
    times 0x60 - ($ - $$) nop
out_here:                           ; F000:0060
    out 0x80, al
    times 0x70 - ($ - $$) nop
ud_here:                            ; F000:0070
    ud2
    mov word [0x504], 0xBEEF
    mov al, 0
    out 0xF4, al
    hlt

    times 0xA0 - ($ - $$) nop
ud_handler:                         ; F000:00A0: return past the UD2
    push bp
    mov bp, sp
    add word [bp + 2], 2
    pop bp
    iret

    times 0xFFF0 - ($ - $$) db 0xFF
reset:
    jmp 0xF000:start
    times 0x10000 - ($ - $$) db 0xFF
