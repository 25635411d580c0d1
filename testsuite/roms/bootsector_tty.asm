; A boot sector that only talks through the BIOS: it prints a line with
; INT 10h AH=0Eh (teletype) and halts with interrupts off. The headless
; front end's text mirror is how a user sees it.

bits 16
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    mov si, msg
.next:
    lodsb
    test al, al
    jz .stop
    mov ah, 0x0E
    mov bx, 0x0007
    int 0x10
    jmp .next
.stop:
    cli
    hlt

msg: db "HELLO FROM THE BOOT SECTOR", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
