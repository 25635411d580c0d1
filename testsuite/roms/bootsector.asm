; A boot sector for the firmware boot tests: the BIOS loads it at
; 0000:7C00 from the first disk; it reads sector 2 through INT 13h
; (AH=02h, CHS 0/0/2) to 0000:7E00, prints that sector's NUL-terminated
; text on the debug console (port 0xE9), and exits through port 0xF4 with
; the byte that follows the text (QEMU's isa-debug-exit convention: the
; emulator's status is (v << 1) | 1).

bits 16
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    ; DL holds the boot drive.
    mov ax, 0x0201              ; read 1 sector
    mov cx, 0x0002              ; cylinder 0, sector 2
    xor dh, dh                  ; head 0
    mov bx, 0x7E00
    int 0x13
    jc fail
    mov si, 0x7E00
.print:
    lodsb
    test al, al
    jz .done
    out 0xE9, al
    jmp .print
.done:
    lodsb                       ; the exit code after the NUL
    out 0xF4, al
    cli
    hlt

fail:
    mov si, msg_fail
.p:
    lodsb
    test al, al
    jz .halt
    out 0xE9, al
    jmp .p
.halt:
    mov al, 0x7F
    out 0xF4, al
    cli
    hlt

msg_fail: db "boot sector: INT 13h read failed", 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
