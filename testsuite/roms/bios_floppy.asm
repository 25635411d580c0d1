; A 1.44M boot diskette that calls the BIOS's diskette services (INT 13h
; for drive 00h) and reports what they return on the debug console (port
; 0xE9), one line per check: a name, then values in hexadecimal. The test
; (emulator/tests/oxbios_boot.rs) builds the image: this program in
; sectors 0-3, and every other sector starting with its own LBA as a
; dword. Sector 0 loads sectors 1-3 through INT 13h AH=02h; the run ends
; through port 0xF4 with 0x15.

bits 16
cpu 386
org 0x7C00

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    mov [boot_drive], dl
    mov ax, 0x0203
    mov cx, 0x0002
    xor dh, dh
    mov bx, 0x7E00
    int 0x13
    jc load_failed
    jmp main

load_failed:
    mov al, 'X'
    out 0xE9, al
    mov al, 0x7F
    out 0xF4, al
    cli
    hlt

boot_drive: db 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

%include "bios_report.inc"

; Print the name at SI, then EAX (the INT 13h AX) and CF.
%macro REPORT_AX_CF 1
    pushf
    mov si, %%name
    call report_str
    movzx eax, ax
    call report_hex
    popf
    call report_carry
    call report_nl
    jmp %%over
%%name: db %1, 0
%%over:
%endmacro

; Read AL sectors at CH/DH/CL of drive 0 to ES:BX.
%macro READ 4
    mov ax, 0x0200 | %1
    mov ch, %2
    mov dh, %3
    mov cl, %4
    xor dl, dl
    int 0x13
%endmacro

main:
    mov dl, [boot_drive]
    movzx eax, dl
    mov si, n_boot
    call report_str
    call report_hex
    call report_nl

    ; The change line: no step pulse since power-on yet.
    mov ah, 0x16
    xor dl, dl
    int 0x13
    REPORT_AX_CF "change_before"

    int 0x11
    movzx eax, ax
    mov si, n_equip
    call report_str
    call report_hex
    call report_nl

    ; AH=08h: type, geometry, drive count, ES:DI = the parameter table,
    ; which INT 1Eh also points at.
    push es
    mov ah, 0x08
    xor dl, dl
    int 0x13
    pushf
    mov si, n_params
    call report_str
    movzx eax, ax
    call report_hex
    movzx eax, bx
    call report_hex
    movzx eax, cx
    call report_hex
    movzx eax, dx
    call report_hex
    mov eax, [0x1E * 4]
    mov bx, es
    shl ebx, 16
    mov bx, di
    cmp eax, ebx
    sete al
    movzx eax, al
    call report_hex             ; 1: ES:DI is INT 1Eh's table
    movzx eax, byte [es:di + 4]
    call report_hex             ; its sectors per track
    popf
    call report_carry
    call report_nl
    pop es

    mov ah, 0x15
    xor dl, dl
    int 0x13
    REPORT_AX_CF "type"
    mov ah, 0x15
    mov dl, 1
    int 0x13
    REPORT_AX_CF "type_b"
    mov ah, 0x02
    mov al, 1
    mov dl, 1
    mov cx, 1
    xor dh, dh
    mov bx, 0x8000
    int 0x13
    REPORT_AX_CF "read_b"

    ; 20 sectors from C0/H0/S17: the read goes on to head 1 (multi-track).
    push es
    mov ax, 0x1000
    mov es, ax
    xor bx, bx
    READ 20, 0, 0, 17
    REPORT_AX_CF "multi"
    mov eax, [es:0]
    mov si, n_multi_first
    call report_str
    call report_hex
    mov eax, [es:19 * 512]
    call report_hex
    call report_nl
    ; The last sector of the disk.
    READ 1, 79, 1, 18
    REPORT_AX_CF "last"
    mov eax, [es:0]
    mov si, n_last_lba
    call report_str
    call report_hex
    call report_nl
    pop es

    ; The head has stepped: the change line is clear.
    mov ah, 0x16
    xor dl, dl
    int 0x13
    REPORT_AX_CF "change_after"

    ; Write C5/H1/S3 (LBA 200) and read it back.
    mov di, 0x9000
    mov cx, 512
    mov al, 0xA5
    rep stosb
    mov dword [0x9000], 'FDWR'
    mov ax, 0x0301
    mov cx, 0x0503
    mov dx, 0x0100
    mov bx, 0x9000
    int 0x13
    REPORT_AX_CF "write"
    mov dword [0x9200], 0
    mov ax, 0x0201
    mov cx, 0x0503
    mov dx, 0x0100
    mov bx, 0x9200
    int 0x13
    REPORT_AX_CF "readback"
    mov eax, [0x9200]
    mov si, n_readback_data
    call report_str
    call report_hex
    movzx eax, byte [0x93FF]
    call report_hex
    call report_nl

    mov ax, 0x0402
    mov cx, 0x0A01
    xor dx, dx
    mov bx, 0x9000
    int 0x13
    REPORT_AX_CF "verify"

    ; Sector 19 does not exist on a 1.44M track.
    xor bx, bx
    mov es, bx
    mov bx, 0x9000
    READ 1, 0, 0, 19
    REPORT_AX_CF "notfound"
    mov ah, 0x01
    xor dl, dl
    int 0x13
    REPORT_AX_CF "status"
    push ds
    push word 0x40
    pop ds
    movzx eax, byte [0x3E]
    movzx ebx, byte [0x41]
    pop ds
    mov si, n_bda
    call report_str
    call report_hex
    mov eax, ebx
    call report_hex
    call report_nl

    ; A buffer across a 64 KiB boundary: the 8237 cannot do it.
    mov bx, 0xFF00
    READ 2, 0, 0, 5
    REPORT_AX_CF "boundary"

    mov ah, 0x00
    xor dl, dl
    int 0x13
    REPORT_AX_CF "reset"
    mov bx, 0x9000
    READ 1, 2, 0, 1
    REPORT_AX_CF "after_reset"
    mov eax, [0x9000]
    mov si, n_after_reset_lba
    call report_str
    call report_hex
    call report_nl

    mov ah, 0x18
    mov cx, 0x4F12
    xor dl, dl
    int 0x13
    REPORT_AX_CF "media_144"
    mov ah, 0x18
    mov cx, 0x2709
    xor dl, dl
    int 0x13
    REPORT_AX_CF "media_360"
    mov ax, 0x1704
    xor dl, dl
    int 0x13
    REPORT_AX_CF "settype"

    mov al, 0x15
    out 0xF4, al
    cli
    hlt

n_boot:              db "boot", 0
n_equip:             db "equip", 0
n_params:            db "params", 0
n_multi_first:       db "multi_lbas", 0
n_last_lba:          db "last_lba", 0
n_readback_data:     db "readback_data", 0
n_bda:               db "bda", 0
n_after_reset_lba:   db "after_reset_lba", 0

    times 4 * 512 - ($ - $$) db 0
