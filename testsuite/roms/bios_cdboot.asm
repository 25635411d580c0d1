; An El Torito no-emulation boot image for the CD-ROM test of oxbox's
; BIOS (loaded at 07C0:0000, 4 virtual sectors). It prints, in hex on
; port 0xE9: DL; INT 13h AH=41h (BX, CF); AX=4B01h (CF, packet size,
; media, drive, image LBA, load segment, sector count); AH=48h (CF, bytes
; per sector, total blocks); then AH=42h reads block 16 and prints its
; bytes 1-5 as text ("CD001"), and exits through port 0xF4 with 0x13.

bits 16
cpu 386
org 0

start:
    mov ax, cs
    mov ds, ax
    mov es, ax
    mov [drive], dl
    movzx eax, dl
    call report_hex

    mov ah, 0x41
    mov bx, 0x55AA
    mov dl, [drive]
    int 0x13
    pushf
    movzx eax, bx
    call report_hex
    popf
    call report_carry

    mov ax, 0x4B01
    mov dl, [drive]
    mov si, spec
    int 0x13
    call report_carry
    movzx eax, byte [spec]
    call report_hex
    movzx eax, byte [spec + 1]
    call report_hex
    movzx eax, byte [spec + 2]
    call report_hex
    mov eax, [spec + 4]
    call report_hex
    movzx eax, word [spec + 12]
    call report_hex
    movzx eax, word [spec + 14]
    call report_hex

    mov ah, 0x48
    mov dl, [drive]
    mov si, params
    mov word [params], 0x1A
    int 0x13
    call report_carry
    movzx eax, word [params + 24]
    call report_hex
    mov eax, [params + 16]
    call report_hex

    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    mov [dap + 6], ds
    int 0x13
    call report_carry
    mov al, ' '
    out 0xE9, al
    mov si, buffer + 1
    mov cx, 5
.t:
    lodsb
    out 0xE9, al
    loop .t
    mov al, 10
    out 0xE9, al
    mov al, 0x13
    out 0xF4, al
    cli
    hlt

%include "bios_report.inc"

drive:  db 0
spec:   times 0x13 db 0
params: times 0x1A db 0
align 4
dap:
    db 0x10, 0
    dw 1
    dw buffer, 0
    dd 16, 0
    times 2048 - ($ - $$) db 0
buffer:
