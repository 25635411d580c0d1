; A boot sector for the disk-persistence tests: reads sector 2 (whose
; first byte is 'E' or 'L'), writes it back to sector 3 through INT 13h
; (AH=03h), prints "written" on the debug console, and then, for 'E',
; exits through port 0xF4 (value 0) or, for 'L', idles forever (for the
; Ctrl-C test).

bits 16
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    mov [drive], dl
    mov ax, 0x0201              ; read sector 2 to 0000:7E00
    mov cx, 0x0002
    xor dh, dh
    mov bx, 0x7E00
    int 0x13
    jc .fail
    mov ax, 0x0301              ; write it to sector 3
    mov cx, 0x0003
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x7E00
    int 0x13
    jc .fail
    mov si, msg_written
    call print
    cmp byte [0x7E00], 'E'
    jne .idle
    xor al, al
    out 0xF4, al
.idle:
    hlt
    jmp .idle
.fail:
    mov si, msg_fail
    call print
    mov al, 0x7F
    out 0xF4, al
    jmp .idle

print:
    lodsb
    test al, al
    jz .done
    out 0xE9, al
    jmp print
.done:
    ret

drive:       db 0
msg_written: db "written", 10, 0
msg_fail:    db "disk access failed", 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
