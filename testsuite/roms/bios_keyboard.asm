; A boot sector for the keyboard test of oxbox's BIOS: prints "ready",
; then reads 11 keys through INT 16h (AH=10h for the first ten, AH=00h for
; the last) and prints each AX in hexadecimal, then the shift flags (INT
; 16h AH=02h), and exits through port 0xF4 with 0x12.

bits 16
cpu 386
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    mov si, ready
.r:
    lodsb
    test al, al
    jz .keys
    out 0xE9, al
    jmp .r
.keys:
    mov cx, 10
.ext:
    mov ah, 0x10
    int 0x16
    call hex16
    loop .ext
    mov ah, 0x00
    int 0x16
    call hex16
    mov ah, 0x02
    int 0x16
    xor ah, ah
    call hex16
    mov al, 10
    out 0xE9, al
    mov al, 0x12
    out 0xF4, al
    cli
    hlt

hex16 equ report_hex16

%include "bios_report.inc"

ready: db "ready", 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
